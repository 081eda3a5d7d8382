# Unit tests of the `value-thresholds` template: every `test_*` rule must be
# true (`lictor policy test policies/templates/value-thresholds`).
package lictor

import rego.v1

exposing(type, usd) := {"intent": {
	"agent": {"id": "agent-1"},
	"action": {"type": type, "verb": "pay", "payload": {"estimated_impact": {"financial_exposure_usd": usd}}},
	"context": {},
}}

codes(d) := [r.code | some r in d.reasons]

verdict_of(type, usd) := d.verdict if {
	d := decision with input as exposing(type, usd)
}

test_a_small_amount_is_approved if {
	d := decision with input as exposing("transact", 20)
	d.verdict == "approve"
	d.reasons == []
}

test_no_estimate_is_not_judged if {
	d := decision with input as {"intent": {"agent": {"id": "a"}, "action": {"type": "transact", "verb": "pay"}}}
	d.verdict == "approve"
}

test_amounts_are_exclusive_limits if {
	verdict_of("modify", 1000) == "approve"
	verdict_of("modify", 1000.01) == "escalate"
	verdict_of("modify", 25000) == "escalate"
	verdict_of("modify", 25000.01) == "block"
}

test_above_the_escalate_amount_escalates if {
	d := decision with input as exposing("control", 5000)
	d.verdict == "escalate"
	codes(d) == ["exposure_above_escalate_limit"]
	d.reasons[0].message == "`pay` with 5000 USD at stake needs approval (limit 1000 USD for `control`)"
}

test_above_the_block_amount_blocks_with_one_reason if {
	d := decision with input as exposing("modify", 30000)
	d.verdict == "block"
	codes(d) == ["exposure_above_block_limit"]
}

test_transactions_have_lower_limits if {
	verdict_of("transact", 500) == "approve"
	verdict_of("transact", 501) == "escalate"
	verdict_of("transact", 10001) == "block"
}

test_recommendations_are_never_blocked if {
	verdict_of("recommend", 40000) == "approve"
	verdict_of("recommend", 1000000000) == "escalate"
}

test_an_override_may_set_one_amount if {
	settings := {"escalate_above": 100, "block_above": 200, "overrides": {"transact": {"block_above": 1000}}}
	d := decision with input as exposing("transact", 500) with data.value_thresholds as settings
	d.verdict == "escalate"
	d2 := decision with input as exposing("modify", 500) with data.value_thresholds as settings
	d2.verdict == "block"
}

test_missing_settings_block if {
	d := decision with input as exposing("transact", 1) with data.value_thresholds as {}
	d.verdict == "block"
	codes(d) == ["invalid_template_settings"]
	d.reasons[0].message == concat("; ", [
		"`value_thresholds.block_above` must be a number or null",
		"`value_thresholds.escalate_above` must be a number or null",
	])
}

test_mistyped_overrides_block if {
	d := decision with input as exposing("transact", 1) with data.value_thresholds as {
		"escalate_above": 10, "block_above": 20, "overrides": ["transact"],
	}
	d.verdict == "block"
	d.reasons[0].message == "`value_thresholds.overrides` must be an object"
}

# --- alternatives -------------------------------------------------------------

alternative(d, code) := a if {
	some a in d.alternatives
	a.code == code
}

test_a_block_suggests_the_most_it_allows_and_a_hand_off if {
	d := decision with input as exposing("transact", 12000)
	d.verdict == "block"
	reduce := alternative(d, "reduce_exposure")
	reduce.action == {"payload": {"estimated_impact": {"financial_exposure_usd": 10000}}}
	# 10,000 USD is above the 500 USD escalation limit of `transact`.
	reduce.requires == "approval"
	reduce.role == "payments approver"
	hand := alternative(d, "hand_to_human")
	hand.requires == "human"
}

test_without_an_escalation_limit_the_reduced_action_needs_no_approval if {
	d := decision with input as exposing("transact", 50) with data.value_thresholds as {
		"escalate_above": null, "block_above": 40, "overrides": {},
	}
	reduce := alternative(d, "reduce_exposure")
	not reduce.requires
}

test_the_hand_off_names_the_configured_role if {
	d := decision with input as exposing("transact", 12000) with data.value_thresholds.handoff_role as "treasury desk"
	alternative(d, "hand_to_human").role == "treasury desk"
}

test_other_verdicts_carry_no_alternative if {
	d := decision with input as exposing("transact", 600)
	d.verdict == "escalate"
	d.alternatives == []
}

test_broken_settings_send_the_fix_to_an_administrator if {
	d := decision with input as exposing("transact", 1) with data.value_thresholds.handoff_role as ""
	d.verdict == "block"
	"invalid_template_settings" in codes(d)
	fix := alternative(d, "fix_template_settings")
	fix.role == "tenant administrator"
}
