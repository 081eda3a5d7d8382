//! Money amounts.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An amount in US dollars: a finite JSON number between 0 and 10^15.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "f64", into = "f64")]
pub struct UsdAmount(#[schemars(range(min = 0, max = 1_000_000_000_000_000.0))] f64);

/// Why an amount was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidAmount(pub String);

impl fmt::Display for InvalidAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidAmount {}

impl UsdAmount {
    /// The largest amount accepted.
    pub const MAX: f64 = 1e15;
    /// Zero dollars.
    pub const ZERO: UsdAmount = UsdAmount(0.0);

    /// Validates `value`.
    pub fn new(value: f64) -> Result<UsdAmount, InvalidAmount> {
        if !value.is_finite() {
            return Err(InvalidAmount("amount must be a finite number".into()));
        }
        if value < 0.0 {
            return Err(InvalidAmount(format!("amount must not be negative, got {value}")));
        }
        if value > UsdAmount::MAX {
            return Err(InvalidAmount(format!("amount must be at most 1e15, got {value}")));
        }
        Ok(UsdAmount(value))
    }

    /// The amount as a float.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for UsdAmount {
    type Error = InvalidAmount;
    fn try_from(value: f64) -> Result<UsdAmount, InvalidAmount> {
        UsdAmount::new(value)
    }
}

impl From<UsdAmount> for f64 {
    fn from(v: UsdAmount) -> f64 {
        v.0
    }
}

impl fmt::Display for UsdAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_negative_and_huge() {
        assert!(UsdAmount::new(-0.01).is_err());
        assert!(UsdAmount::new(2e15).is_err());
        assert!(UsdAmount::new(12.5).is_ok());
        let bad: Result<UsdAmount, _> = serde_json::from_str("-3");
        assert!(bad.is_err());
    }
}
