//! The gateway-signed part of a token: who it is for and where it sits in
//! the jti lineage.

use lictor_api::ids::{AgentId, TenantId};
pub use lictor_api::tokens::Jti;
use serde::{Deserialize, Serialize};

use super::error::{Segment, TokenError};
use super::format::{check_string_len, check_text};

/// The only header version this module reads and writes.
pub const TOKEN_VERSION: u64 = 1;

/// Maximum length of a jti (`[A-Za-z0-9_-]{1,64}`, see [`Jti`]).
pub const MAX_JTI_LEN: usize = 64;

/// The first segment of a token, signed with the gateway's root key.
///
/// On the wire: `{"v":1,"kid":…,"jti":…,"parent_jti":…,"root_jti":…,
/// "tenant":…,"sub":…,"iat":…}` in canonical form, `parent_jti` omitted
/// when absent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenHeader {
    /// Format version; always [`TOKEN_VERSION`].
    pub v: u64,
    /// Id of the signing secret the root key was derived from.
    pub kid: String,
    /// This token's own id.
    pub jti: Jti,
    /// The token this one was minted from, when the gateway minted it from
    /// another token rather than from scratch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_jti: Option<Jti>,
    /// The first token of the lineage (equals `jti` for a root token).
    pub root_jti: Jti,
    /// The tenant the token acts in.
    pub tenant: TenantId,
    /// The agent the token was issued to.
    pub sub: AgentId,
    /// Issue time, Unix seconds.
    pub iat: i64,
}

impl TokenHeader {
    /// The header of a root token: version 1, no parent, `root_jti = jti`.
    pub fn root(kid: impl Into<String>, jti: Jti, tenant: TenantId, sub: AgentId, iat: i64) -> Self {
        TokenHeader {
            v: TOKEN_VERSION,
            kid: kid.into(),
            root_jti: jti.clone(),
            jti,
            parent_jti: None,
            tenant,
            sub,
            iat,
        }
    }

    /// The header of a token the gateway mints from the token `parent`
    /// (whose effective jti is `parent_jti` and root is `root_jti`).
    pub fn child(
        kid: impl Into<String>,
        jti: Jti,
        parent_jti: Jti,
        root_jti: Jti,
        tenant: TenantId,
        sub: AgentId,
        iat: i64,
    ) -> Self {
        TokenHeader {
            v: TOKEN_VERSION,
            kid: kid.into(),
            jti,
            parent_jti: Some(parent_jti),
            root_jti,
            tenant,
            sub,
            iat,
        }
    }

    /// Limit checks (step 8 of parsing), then value rules (step 9).
    pub(crate) fn validate(&self) -> Result<(), TokenError> {
        let segment = Segment::Header;
        check_string_len(segment, "kid", &self.kid)?;
        check_text(segment, "kid", &self.kid)?;
        match &self.parent_jti {
            None if self.root_jti != self.jti => Err(TokenError::malformed(
                segment,
                format!(
                    "`root_jti` `{}` must equal `jti` `{}` when there is no `parent_jti`",
                    self.root_jti, self.jti
                ),
            )),
            Some(parent) if *parent == self.jti || self.root_jti == self.jti => Err(TokenError::malformed(
                segment,
                format!(
                    "`jti` `{}` must differ from `parent_jti` and `root_jti` when there is a `parent_jti`",
                    self.jti
                ),
            )),
            _ => Ok(()),
        }
    }
}
