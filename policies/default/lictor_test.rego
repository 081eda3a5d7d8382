# Unit tests of the default bundle. Every rule named `test_*` must be true;
# they run with `cargo test` (see server/src/policy/rego_tests.rs).
package lictor

import rego.v1

intent_with(type, verb, impact) := {"intent": {
	"agent": {"id": "agent-1"},
	"action": {"type": type, "verb": verb, "payload": {"estimated_impact": impact}},
}}

message_with(type, content) := {"intent": {
	"agent": {"id": "agent-1"},
	"action": {"type": type, "verb": "send", "payload": {"content": content}},
}}

test_small_read_is_approved if {
	d := decision with input as {"intent": {"agent": {"id": "a"}, "action": {"type": "access", "verb": "read"}}}
	d.verdict == "approve"
	d.reasons == []
	d.patch == []
}

test_transact_over_limit_is_blocked if {
	d := decision with input as intent_with("transact", "transfer", {"financial_exposure_usd": 10000.01})
	d.verdict == "block"
	d.reasons[0].code == "transact_over_limit"
}

test_transact_at_limit_is_not_blocked if {
	d := decision with input as intent_with("transact", "transfer", {"financial_exposure_usd": 10000})
	d.verdict == "approve"
}

test_bulk_delete_is_blocked if {
	d := decision with input as intent_with("modify", "delete", {"audience_size": 1001})
	d.verdict == "block"
	d.reasons[0].code == "bulk_destructive_action"
}

test_destructive_words_inside_verbs_count if {
	d := decision with input as intent_with("modify", "Bulk_TRUNCATE", {"audience_size": 5000})
	d.verdict == "block"
}

test_camel_case_destructive_verbs_count if {
	every verb in ["deleteMany", "deleteAll", "bulkDelete", "DeleteObjects", "dropTable", "truncateTable", "purgeAll", "wipeDisk", "HTTPDelete"] {
		d := decision with input as intent_with("modify", verb, {"audience_size": 5000})
		d.verdict == "block"
		d.reasons[0].code == "bulk_destructive_action"
	}
}

test_words_that_only_contain_a_destructive_verb_do_not_count if {
	every verb in ["undelete", "deleted", "dropship", "Dropbox"] {
		d := decision with input as intent_with("modify", verb, {"audience_size": 5000})
		d.verdict == "approve"
	}
}

test_small_delete_is_approved if {
	d := decision with input as intent_with("modify", "delete", {"audience_size": 1000})
	d.verdict == "approve"
}

test_irreversible_high_value_escalates if {
	d := decision with input as intent_with("transact", "pay", {"reversible": false, "financial_exposure_usd": 2500})
	d.verdict == "escalate"
	d.reasons[0].code == "irreversible_high_value"
}

test_reversible_high_value_is_approved if {
	d := decision with input as intent_with("transact", "pay", {"reversible": true, "financial_exposure_usd": 2500})
	d.verdict == "approve"
}

test_wide_publish_escalates if {
	d := decision with input as intent_with("publish", "post", {"audience_size": 10001})
	d.verdict == "escalate"
	d.reasons[0].code == "publish_wide_audience"
}

test_card_numbers_are_redacted if {
	d := decision with input as message_with("communicate", "card 4111 1111 1111 1111, thanks")
	d.verdict == "approve_modified"
	d.patch == [{"op": "replace", "path": "/content", "value": "card [REDACTED CARD], thanks"}]
	d.reasons[0].code == "card_number_redacted"
}

test_numbers_failing_luhn_are_kept if {
	d := decision with input as message_with("communicate", "order 4111 1111 1111 1112")
	d.verdict == "approve"
}

test_ssns_are_redacted if {
	d := decision with input as message_with("publish", "ssn 123-45-6789 and 987-65-4321")
	d.verdict == "approve_modified"
	d.patch[0].value == "ssn [REDACTED SSN] and 987-65-4321"
}

test_redaction_applies_only_to_messages if {
	d := decision with input as message_with("access", "4111-1111-1111-1111")
	d.verdict == "approve"
}

test_most_restrictive_verdict_wins_and_all_reasons_are_reported if {
	d := decision with input as {"intent": {
		"agent": {"id": "a"},
		"action": {
			"type": "publish",
			"verb": "post",
			"payload": {
				"content": "ssn 123-45-6789",
				"estimated_impact": {"audience_size": 20000, "reversible": false, "financial_exposure_usd": 20000},
			},
		},
	}}
	d.verdict == "escalate"
	codes := [r.code | some r in d.reasons]
	codes == ["irreversible_high_value", "publish_wide_audience", "ssn_redacted"]

	# The redaction waits for the human: approved, the intent is modified.
	d.patch == [{"op": "replace", "path": "/content", "value": "ssn [REDACTED SSN]"}]
}

test_blocks_carry_no_patch if {
	d := decision with input as {"intent": {
		"agent": {"id": "a"},
		"action": {
			"type": "publish",
			"verb": "post",
			"payload": {"content": "ssn 123-45-6789", "estimated_impact": {"financial_exposure_usd": 20000}},
		},
	}}
	d.verdict == "approve_modified"
	d2 := decision with input as intent_with("transact", "transfer", {"financial_exposure_usd": 50000})
	d2.verdict == "block"
	d2.patch == []
}

test_block_outranks_escalate if {
	d := decision with input as intent_with("transact", "transfer", {"reversible": false, "financial_exposure_usd": 50000})
	d.verdict == "block"
	[r.code | some r in d.reasons] == ["transact_over_limit", "irreversible_high_value"]
}

test_tool_call_arguments_are_redacted if {
	d := decision with input as {"intent": {
		"agent": {"id": "a"},
		"action": {
			"type": "communicate",
			"verb": "send_email",
			"payload": {"arguments": {
				"to": "x@example.com",
				"body": "card 4111 1111 1111 1111",
				"cc": [{"note": "ssn 123-45-6789"}],
				"a/b~c": "5500 0000 0000 0004",
			}},
		},
	}}
	d.verdict == "approve_modified"
	d.patch == [
		{"op": "replace", "path": "/arguments/a~1b~0c", "value": "[REDACTED CARD]"},
		{"op": "replace", "path": "/arguments/body", "value": "card [REDACTED CARD]"},
		{"op": "replace", "path": "/arguments/cc/0/note", "value": "ssn [REDACTED SSN]"},
	]
	[r.code | some r in d.reasons] == ["card_number_redacted", "ssn_redacted"]
}

test_tool_calls_without_numbers_are_approved if {
	d := decision with input as {"intent": {
		"agent": {"id": "a"},
		"action": {"type": "communicate", "verb": "send_email", "payload": {"arguments": {"body": "hello", "n": 4111}}},
	}}
	d.verdict == "approve"
}

# --- structured content ------------------------------------------------------

test_object_content_is_redacted_at_each_string if {
	d := decision with input as message_with("communicate", {"channel": "email", "message_body": "card 4111 1111 1111 1111"})
	d.verdict == "approve_modified"
	d.patch == [{"op": "replace", "path": "/content/message_body", "value": "card [REDACTED CARD]"}]
}

test_string_content_is_redacted_as_before if {
	d := decision with input as message_with("communicate", "ssn 123-45-6789")
	d.patch == [{"op": "replace", "path": "/content", "value": "ssn [REDACTED SSN]"}]
}

# --- alternatives ------------------------------------------------------------

alternative(d, code) := a if {
	some a in d.alternatives
	a.code == code
}

test_a_large_transfer_suggests_a_split_and_a_hand_off if {
	d := decision with input as intent_with("transact", "transfer", {"financial_exposure_usd": 25000})
	split := alternative(d, "split_below_limit")
	split.action == {"payload": {"estimated_impact": {"financial_exposure_usd": 10000}}}
	contains(split.description, "3 transactions")
	not split.requires
	alternative(d, "hand_to_human").role == "payments approver"
}

test_an_irreversible_split_still_needs_an_approver if {
	d := decision with input as intent_with("transact", "transfer", {"financial_exposure_usd": 25000, "reversible": false})
	alternative(d, "split_below_limit").requires == "approval"
}

test_a_bulk_delete_suggests_batches_and_the_data_owner if {
	d := decision with input as intent_with("modify", "deleteMany", {"audience_size": 2500})
	narrow := alternative(d, "narrow_audience")
	narrow.action == {"payload": {"estimated_impact": {"audience_size": 1000}}}
	contains(narrow.description, "3 batches")
	alternative(d, "hand_to_human").role == "data owner"
}

test_only_a_block_carries_alternatives if {
	d := decision with input as intent_with("publish", "post", {"audience_size": 50000})
	d.verdict == "escalate"
	d.alternatives == []
}
