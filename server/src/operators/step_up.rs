//! Step-up: what a destructive operation asks of a person.
//!
//! A person's credentials carry when they last authenticated at their
//! provider (`auth_time`), how (`acr`, `amr`). A destructive operation
//! (docs/operators.md lists them; `x-lictor-step-up` in the spec marks
//! them) goes ahead only when, for the tenant's step-up policy, that
//! authentication is recent enough and strong enough; otherwise the
//! answer is `401 step_up_required` naming what is needed, and where a
//! browser re-authenticates with it (`max_age`, `acr_values`).

use lictor_api::operators::{ProviderName, SignIn, StepUpChallenge, StepUpPolicy};

/// What `policy` needs that `sign_in` lacks, at `now` (Unix seconds):
/// `None` when it is enough.
pub fn lacking(policy: &StepUpPolicy, sign_in: &SignIn, now: i64) -> Option<String> {
    let max_age = i64::from(policy.max_age_seconds);
    match sign_in.auth_time.map(|t| t.timestamp()) {
        None => return Some("the credentials do not say when the person authenticated (`auth_time`)".into()),
        Some(at) if now - at > max_age => {
            return Some(format!(
                "the person authenticated {} s ago; this needs an authentication at most {max_age} s old",
                now - at
            ));
        }
        Some(_) => {}
    }
    if !policy.acr_values.is_empty()
        && !sign_in.acr.as_deref().is_some_and(|acr| policy.acr_values.iter().any(|v| v.as_str() == acr))
    {
        return Some(format!(
            "this needs an authentication of class {} (`acr`), not {}",
            list(policy.acr_values.iter().map(|v| v.as_str())),
            sign_in.acr.as_deref().map_or("none".to_string(), |a| format!("`{a}`"))
        ));
    }
    if !policy.amr_values.is_empty()
        && !sign_in.amr.iter().any(|m| policy.amr_values.iter().any(|v| v.as_str() == m))
    {
        return Some(format!(
            "this needs an authentication by {} (`amr`)",
            list(policy.amr_values.iter().map(|v| v.as_str()))
        ));
    }
    None
}

fn list<'a>(values: impl Iterator<Item = &'a str>) -> String {
    values.map(|v| format!("`{v}`")).collect::<Vec<_>>().join(" or ")
}

/// The challenge naming what `policy` needs; with the sign-in URL when
/// the person has a provider.
pub fn challenge(policy: &StepUpPolicy, provider: Option<&ProviderName>) -> StepUpChallenge {
    let acr: Vec<String> = policy.acr_values.iter().map(|v| v.to_string()).collect();
    let login_url = provider.map(|provider| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("provider", provider.as_str());
        query.append_pair("max_age", "0");
        if !acr.is_empty() {
            query.append_pair("acr_values", &acr.join(" "));
        }
        format!("/v1/auth/login?{}", query.finish())
    });
    StepUpChallenge {
        max_age_seconds: policy.max_age_seconds,
        acr_values: acr,
        amr_values: policy.amr_values.iter().map(|v| v.to_string()).collect(),
        login_url,
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use lictor_api::operators::AuthValue;

    use super::*;

    fn sign_in(at: i64, acr: Option<&str>, amr: &[&str]) -> SignIn {
        SignIn {
            auth_time: Utc.timestamp_opt(at, 0).single(),
            acr: acr.map(str::to_string),
            amr: amr.iter().map(|m| m.to_string()).collect(),
        }
    }

    #[test]
    fn recent_and_strong_enough_passes() {
        let mut policy = StepUpPolicy { max_age_seconds: 300, ..StepUpPolicy::default() };
        assert_eq!(lacking(&policy, &sign_in(1000, None, &[]), 1200), None);
        assert!(lacking(&policy, &sign_in(1000, None, &[]), 1301).is_some_and(|m| m.contains("300 s")));
        assert!(lacking(&policy, &SignIn { auth_time: None, acr: None, amr: vec![] }, 1).is_some());
        policy.acr_values = vec![AuthValue::parse("urn:example:loa:2").expect("value")];
        assert!(lacking(&policy, &sign_in(1000, Some("urn:example:loa:1"), &[]), 1000).is_some());
        assert_eq!(lacking(&policy, &sign_in(1000, Some("urn:example:loa:2"), &[]), 1000), None);
        policy.amr_values =
            vec![AuthValue::parse("mfa").expect("value"), AuthValue::parse("hwk").expect("value")];
        assert!(lacking(&policy, &sign_in(1000, Some("urn:example:loa:2"), &["pwd"]), 1000).is_some());
        assert_eq!(lacking(&policy, &sign_in(1000, Some("urn:example:loa:2"), &["pwd", "hwk"]), 1000), None);
        let challenge = challenge(&policy, Some(&ProviderName::parse("corp").expect("name")));
        assert_eq!(
            challenge.login_url.as_deref(),
            Some("/v1/auth/login?provider=corp&max_age=0&acr_values=urn%3Aexample%3Aloa%3A2")
        );
    }
}
