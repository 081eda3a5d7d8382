//! Caveats: the restrictions a token carries.
//!
//! A caveat only ever narrows what a token grants; the gateway requires
//! every caveat of a token to hold. This module defines their wire shape
//! and validity; evaluating them against a call is the pipeline's job.

use lictor_api::intents::ActionType;
use serde::{Deserialize, Serialize};

use super::error::{Segment, TokenError};
use super::format::{check_list_len, check_string_len, check_text};
use super::header::Jti;

/// One restriction of a capability token, tagged by `type` on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Caveat {
    /// `{"type":"expires","at":…}`: invalid at or after `at` (Unix seconds).
    Expires {
        /// First second at which the token is no longer valid.
        at: i64,
    },
    /// `{"type":"tools","allow":[…],"deny":[…]}`: a tool name must match an
    /// `allow` glob and no `deny` glob (see [`super::glob_match`]).
    Tools {
        /// Globs of allowed tool names; never empty.
        allow: Vec<String>,
        /// Globs of denied tool names; omitted on the wire when empty.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        deny: Vec<String>,
    },
    /// `{"type":"servers","allow":[…]}`: upstream MCP server names the
    /// token may reach.
    Servers {
        /// Allowed server names (exact); never empty.
        allow: Vec<String>,
    },
    /// `{"type":"action_types","allow":[…]}`: the intent's action type must
    /// be one of these.
    ActionTypes {
        /// Allowed action types; never empty.
        allow: Vec<ActionType>,
    },
    /// `{"type":"max_calls","n":…}`: at most `n` allowed calls within this
    /// caveat's scope jti.
    MaxCalls {
        /// The limit, at least 1.
        n: u64,
    },
    /// `{"type":"max_usd","cents":…}`: at most this much money exposure, in
    /// US cents, within this caveat's scope jti.
    MaxUsd {
        /// The limit in cents.
        cents: u64,
    },
    /// `{"type":"rate_per_min","n":…}`: at most `n` allowed calls in any
    /// 60-second window within this caveat's scope jti.
    RatePerMin {
        /// The limit, at least 1.
        n: u64,
    },
    /// `{"type":"step_up","at":…}`: the minting operator completed step-up
    /// authentication at `at`; high and critical risk actions are allowed
    /// only within 15 minutes of it.
    StepUp {
        /// Step-up time, Unix seconds.
        at: i64,
    },
    /// `{"type":"audience","aud":…}`: the gateway audience the token is
    /// valid at.
    Audience {
        /// The audience.
        aud: String,
    },
    /// `{"type":"hop","jti":…,"parent_jti":…}`: an attenuation hop; the
    /// caveats after it (up to the next hop) were added under `jti`.
    Hop {
        /// The hop's own jti.
        jti: Jti,
        /// The jti in effect before the hop.
        parent_jti: Jti,
    },
}

impl Caveat {
    /// Every caveat `type` this module knows. Any other `type` is
    /// [`TokenError::UnknownCaveat`].
    pub const TYPES: [&'static str; 10] = [
        "expires",
        "tools",
        "servers",
        "action_types",
        "max_calls",
        "max_usd",
        "rate_per_min",
        "step_up",
        "audience",
        "hop",
    ];

    /// The wire `type` of this caveat.
    pub const fn type_name(&self) -> &'static str {
        match self {
            Caveat::Expires { .. } => "expires",
            Caveat::Tools { .. } => "tools",
            Caveat::Servers { .. } => "servers",
            Caveat::ActionTypes { .. } => "action_types",
            Caveat::MaxCalls { .. } => "max_calls",
            Caveat::MaxUsd { .. } => "max_usd",
            Caveat::RatePerMin { .. } => "rate_per_min",
            Caveat::StepUp { .. } => "step_up",
            Caveat::Audience { .. } => "audience",
            Caveat::Hop { .. } => "hop",
        }
    }

    /// Limit checks (step 8 of parsing): list lengths, then string lengths,
    /// in field order.
    pub(crate) fn check_limits(&self, segment: Segment) -> Result<(), TokenError> {
        match self {
            Caveat::Tools { allow, deny } => {
                check_list_len(segment, "allow", allow.len())?;
                check_list_len(segment, "deny", deny.len())?;
                check_items_len(segment, "allow", allow)?;
                check_items_len(segment, "deny", deny)
            }
            Caveat::Servers { allow } => {
                check_list_len(segment, "allow", allow.len())?;
                check_items_len(segment, "allow", allow)
            }
            Caveat::ActionTypes { allow } => check_list_len(segment, "allow", allow.len()),
            Caveat::Audience { aud } => check_string_len(segment, "aud", aud),
            Caveat::Expires { .. }
            | Caveat::MaxCalls { .. }
            | Caveat::MaxUsd { .. }
            | Caveat::RatePerMin { .. }
            | Caveat::StepUp { .. }
            | Caveat::Hop { .. } => Ok(()),
        }
    }

    /// Value rules (step 9 of parsing), in field order.
    pub(crate) fn check_values(&self, segment: Segment) -> Result<(), TokenError> {
        match self {
            Caveat::Tools { allow, deny } => {
                check_non_empty(segment, "allow", allow.len())?;
                check_items_text(segment, "allow", allow)?;
                check_items_text(segment, "deny", deny)
            }
            Caveat::Servers { allow } => {
                check_non_empty(segment, "allow", allow.len())?;
                check_items_text(segment, "allow", allow)
            }
            Caveat::ActionTypes { allow } => check_non_empty(segment, "allow", allow.len()),
            Caveat::MaxCalls { n } | Caveat::RatePerMin { n } if *n == 0 => {
                Err(TokenError::malformed(segment, "`n` must be at least 1"))
            }
            Caveat::Audience { aud } => check_text(segment, "aud", aud),
            Caveat::Expires { .. }
            | Caveat::MaxCalls { .. }
            | Caveat::MaxUsd { .. }
            | Caveat::RatePerMin { .. }
            | Caveat::StepUp { .. }
            | Caveat::Hop { .. } => Ok(()),
        }
    }
}

fn check_items_len(segment: Segment, field: &str, items: &[String]) -> Result<(), TokenError> {
    for (i, item) in items.iter().enumerate() {
        check_string_len(segment, &format!("{field}[{i}]"), item)?;
    }
    Ok(())
}

fn check_items_text(segment: Segment, field: &str, items: &[String]) -> Result<(), TokenError> {
    for (i, item) in items.iter().enumerate() {
        check_text(segment, &format!("{field}[{i}]"), item)?;
    }
    Ok(())
}

fn check_non_empty(segment: Segment, field: &str, len: usize) -> Result<(), TokenError> {
    if len == 0 {
        return Err(TokenError::malformed(segment, format!("`{field}` must not be empty")));
    }
    Ok(())
}
