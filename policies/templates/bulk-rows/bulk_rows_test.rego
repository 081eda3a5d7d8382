# Unit tests of the `bulk-rows` template: every `test_*` rule must be true
# (`lictor policy test policies/templates/bulk-rows`).
package lictor

import rego.v1

reaching(type, audience) := {"intent": {
	"agent": {"id": "agent-1"},
	"action": {"type": type, "verb": "update", "payload": {"estimated_impact": {"audience_size": audience}}},
	"context": {},
}}

codes(d) := [r.code | some r in d.reasons]

verdict_of(type, audience) := d.verdict if {
	d := decision with input as reaching(type, audience)
}

test_a_small_reach_is_approved if {
	d := decision with input as reaching("modify", 10)
	d.verdict == "approve"
	d.reasons == []
}

test_no_estimate_is_not_judged if {
	d := decision with input as {"intent": {"agent": {"id": "a"}, "action": {"type": "modify", "verb": "update"}}}
	d.verdict == "approve"
}

test_limits_are_exclusive if {
	verdict_of("modify", 1000) == "approve"
	verdict_of("modify", 1001) == "escalate"
	verdict_of("modify", 100000) == "escalate"
	verdict_of("modify", 100001) == "block"
}

test_above_the_escalate_limit_escalates if {
	d := decision with input as reaching("control", 5000)
	d.verdict == "escalate"
	codes(d) == ["bulk_above_escalate_limit"]
	d.reasons[0].message == "`update` reaching 5000 people or records needs approval (limit 1000 for `control`)"
}

test_above_the_block_limit_blocks_with_one_reason if {
	d := decision with input as reaching("modify", 250000)
	d.verdict == "block"
	codes(d) == ["bulk_above_block_limit"]
}

test_overrides_replace_the_defaults_per_action_type if {
	verdict_of("access", 5000) == "approve"
	verdict_of("access", 10001) == "escalate"
	verdict_of("access", 1000001) == "block"
	verdict_of("communicate", 501) == "escalate"
}

test_a_null_limit_never_applies if {
	verdict_of("publish", 50000000) == "escalate"
}

test_an_override_may_set_one_limit if {
	d := decision with input as reaching("modify", 20) with data.bulk_rows as {
		"escalate_above": 1000, "block_above": 5000,
		"overrides": {"modify": {"escalate_above": 10}},
	}
	d.verdict == "escalate"
	d2 := decision with input as reaching("modify", 6000) with data.bulk_rows as {
		"escalate_above": 1000, "block_above": 5000,
		"overrides": {"modify": {"escalate_above": 10}},
	}
	d2.verdict == "block"
}

test_missing_settings_block if {
	d := decision with input as reaching("modify", 1) with data.bulk_rows as {"escalate_above": 10}
	d.verdict == "block"
	codes(d) == ["invalid_template_settings"]
	d.reasons[0].message == "`bulk_rows.block_above` must be a number or null"
}

test_mistyped_overrides_block if {
	d := decision with input as reaching("modify", 1) with data.bulk_rows as {
		"escalate_above": 10, "block_above": 20,
		"overrides": {"delete": {"escalate_above": 1}, "modify": {"escalate": 5, "block_above": "5"}, "publish": 3},
	}
	d.verdict == "block"
	d.reasons[0].message == concat("; ", [
		"`bulk_rows.overrides.delete` is not an action type",
		"`bulk_rows.overrides.modify.block_above` must be a number or null",
		"`bulk_rows.overrides.modify.escalate` is not a limit",
		"`bulk_rows.overrides.publish` must be an object of limits",
	])
}

# --- alternatives -------------------------------------------------------------

alternative(d, code) := a if {
	some a in d.alternatives
	a.code == code
}

test_a_block_suggests_batches_under_the_limit_and_a_hand_off if {
	d := decision with input as reaching("modify", 200000)
	d.verdict == "block"
	narrow := alternative(d, "narrow_audience")
	narrow.action == {"payload": {"estimated_impact": {"audience_size": 100000}}}
	contains(narrow.description, "2 batches")
	narrow.requires == "approval"
	alternative(d, "hand_to_human").role == "data owner"
}

test_a_zero_block_limit_suggests_only_the_hand_off if {
	d := decision with input as reaching("modify", 1) with data.bulk_rows as {
		"escalate_above": null, "block_above": 0, "overrides": {},
	}
	d.verdict == "block"
	[a.code | some a in d.alternatives] == ["hand_to_human"]
}

test_broken_settings_send_the_fix_to_an_administrator if {
	d := decision with input as reaching("modify", 1) with data.bulk_rows.handoff_role as 7
	d.verdict == "block"
	alternative(d, "fix_template_settings").requires == "human"
}
