# Unit tests of the `pii-redaction` template: every `test_*` rule must be
# true (`lictor policy test policies/templates/pii-redaction`).
package lictor

import rego.v1

message(type, content) := {"intent": {
	"agent": {"id": "agent-1"},
	"action": {"type": type, "verb": "send", "payload": {"content": content}},
	"context": {},
}}

tool_call(arguments) := {"intent": {
	"agent": {"id": "agent-1"},
	"action": {"type": "communicate", "verb": "send_email", "payload": {"arguments": arguments}},
	"context": {},
}}

codes(d) := [r.code | some r in d.reasons]

redacted_content(content) := d.patch[0].value if {
	d := decision with input as message("communicate", content)
	d.verdict == "approve_modified"
	count(d.patch) == 1
	d.patch[0].path == "/content"
}

test_a_clean_message_is_approved if {
	d := decision with input as message("communicate", "see you at 10:30, room 4111")
	d.verdict == "approve"
	d.reasons == []
	d.patch == []
}

test_emails_are_redacted if {
	d := decision with input as message("publish", "write to Jane.Doe+news@mail.example.co.uk today")
	d.verdict == "approve_modified"
	d.patch == [{"op": "replace", "path": "/content", "value": "write to [REDACTED EMAIL] today"}]
	codes(d) == ["email_redacted"]
	d.reasons[0].message == "1 email address(es) redacted"
}

test_luhn_valid_card_numbers_are_redacted_in_any_grouping if {
	redacted_content("card 4111111111111111.") == "card [REDACTED CARD]."
	redacted_content("card 4111 1111 1111 1111") == "card [REDACTED CARD]"
	redacted_content("amex 3782-822463-10005 ok") == "amex [REDACTED CARD] ok"
}

test_numbers_failing_luhn_are_kept if {
	d := decision with input as message("communicate", "order 4111 1111 1111 1112, tracking 1234567890123")
	d.verdict == "approve"
}

test_issuable_ssns_are_redacted if {
	impossible := "666-12-3456, 900-12-3456, 123-00-4567, 123-45-0000"
	redacted_content(concat(" and ", ["ssn 123-45-6789", impossible])) == concat(" and ", ["ssn [REDACTED SSN]", impossible])
}

test_every_kind_is_counted if {
	d := decision with input as message("communicate", "a@b.io, c@d.io: 4111 1111 1111 1111 and 123-45-6789")
	d.patch[0].value == "[REDACTED EMAIL], [REDACTED EMAIL]: [REDACTED CARD] and [REDACTED SSN]"
	codes(d) == ["card_number_redacted", "email_redacted", "ssn_redacted"]
	d.reasons[1].message == "2 email address(es) redacted"
}

test_a_number_inside_an_address_goes_with_the_address if {
	d := decision with input as message("communicate", "from 123-45-6789@example.com")
	d.patch[0].value == "from [REDACTED EMAIL]"
	codes(d) == ["email_redacted"]
}

test_only_the_configured_action_types_are_redacted if {
	d := decision with input as message("access", "jane@example.com")
	d.verdict == "approve"
}

test_tool_call_arguments_are_redacted_but_recipients_kept if {
	d := decision with input as tool_call({
		"To": "jane@example.com",
		"cc": ["ops@example.com"],
		"body": "reach me at bob@example.com",
		"attachments": [{"note": "card 5500 0000 0000 0004"}],
		"a/b~c": "ssn 123-45-6789",
		"count": 4111111111111111,
	})
	d.verdict == "approve_modified"
	d.patch == [
		{"op": "replace", "path": "/arguments/attachments/0/note", "value": "card [REDACTED CARD]"},
		{"op": "replace", "path": "/arguments/a~1b~0c", "value": "ssn [REDACTED SSN]"},
		{"op": "replace", "path": "/arguments/body", "value": "reach me at [REDACTED EMAIL]"},
	]
}

test_kinds_and_placeholders_come_from_data if {
	settings := {"action_types": ["communicate"], "redact": {"ssn": "***-**-****"}, "keep_arguments": []}
	d := decision with input as message("communicate", "a@b.io 123-45-6789") with data.pii_redaction as settings
	d.patch[0].value == "a@b.io ***-**-****"
	codes(d) == ["ssn_redacted"]
}

test_missing_settings_block if {
	settings := {"action_types": "communicate", "redact": {"iban": 1}}
	d := decision with input as message("communicate", "a@b.io") with data.pii_redaction as settings
	d.verdict == "block"
	d.patch == []
	codes(d) == ["invalid_template_settings"]
	d.reasons[0].message == concat("; ", [
		"`pii_redaction.action_types` must be a list of strings",
		"`pii_redaction.keep_arguments` must be a list of strings",
		"`pii_redaction.redact.iban` is not a kind (email, card_number, ssn)",
		"`pii_redaction.redact.iban` must be a string",
	])
}

# --- structured content and alternatives -------------------------------------

test_structured_content_is_redacted_by_pointer_keeping_recipients if {
	content := {"recipient": "jane@example.com", "message_body": "mail jane@example.com", "lines": ["ssn 123-45-6789"]}
	d := decision with input as message("communicate", content)
	d.verdict == "approve_modified"
	d.patch == [
		{"op": "replace", "path": "/content/lines/0", "value": "ssn [REDACTED SSN]"},
		{"op": "replace", "path": "/content/message_body", "value": "mail [REDACTED EMAIL]"},
	]
}

test_broken_settings_send_the_fix_to_an_administrator if {
	d := decision with input as message("communicate", "hi") with data.pii_redaction as {}
	d.verdict == "block"
	[a.code | some a in d.alternatives] == ["fix_template_settings"]
}

test_a_redaction_carries_no_alternative if {
	d := decision with input as message("communicate", "a@b.io")
	d.alternatives == []
}
