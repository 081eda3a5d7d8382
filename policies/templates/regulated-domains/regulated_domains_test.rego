# Unit tests of the `regulated-domains` template: every `test_*` rule must
# be true (`lictor policy test policies/templates/regulated-domains`).
package lictor

import rego.v1

tagged(domains) := {"intent": {
	"agent": {"id": "agent-1"},
	"action": {"type": "access", "verb": "read", "payload": {"estimated_impact": {"regulatory_domains": domains}}},
	"context": {},
}}

emailing(address) := {"intent": {
	"agent": {"id": "agent-1"},
	"action": {"type": "communicate", "verb": "send", "target": {"type": "email", "identifier": address}},
	"context": {},
}}

calling(arguments) := {"intent": {
	"agent": {"id": "agent-1"},
	"action": {"type": "communicate", "verb": "send_email", "payload": {"arguments": arguments}},
	"context": {},
}}

codes(d) := [r.code | some r in d.reasons]

verdict_for(document) := d.verdict if {
	d := decision with input as document
}

verdict_with(document, settings) := d.verdict if {
	d := decision with input as document with data.regulated_domains as settings
}

test_an_unregulated_action_is_approved if {
	d := decision with input as emailing("ops@example.com")
	d.verdict == "approve"
	d.reasons == []
}

test_a_declared_regulated_domain_escalates if {
	d := decision with input as tagged(["HIPAA", "internal"])
	d.verdict == "escalate"
	codes(d) == ["regulated_domain"]
	d.reasons[0].message == "the action falls under hipaa: regulated actions need approval"
}

test_unregulated_tags_are_approved if {
	d := decision with input as tagged(["internal", "marketing"])
	d.verdict == "approve"
}

test_a_target_under_a_regulated_domain_escalates if {
	d := decision with input as emailing("Agent.Smith@IRS.gov")
	d.verdict == "escalate"
	codes(d) == ["regulated_recipient"]
	d.reasons[0].message == "agent.smith@irs.gov under a regulated domain: sending to it needs approval"
}

test_domains_match_whole_labels if {
	verdict_for(emailing("a@hmrc.gov.uk")) == "escalate"
	verdict_for(emailing("a@gov.uk")) == "escalate"
	verdict_for(emailing("a@notgov.uk")) == "approve"
	verdict_for(emailing("a@gov.example.com")) == "approve"
}

test_recipient_arguments_of_tool_calls_count if {
	d := decision with input as calling({"to": ["team@example.com", "case@ssa.gov"], "subject": "hi"})
	d.verdict == "escalate"
	d2 := decision with input as calling({"message": {"cc": [{"address": "x"}], "bcc": "Records <r@army.mil>"}})
	d2.verdict == "escalate"
}

test_addresses_in_other_arguments_do_not_count if {
	d := decision with input as calling({"to": "team@example.com", "body": "forward to case@ssa.gov"})
	d.verdict == "approve"
}

test_both_reasons_are_reported if {
	d := decision with input as {"intent": {
		"agent": {"id": "a"},
		"action": {
			"type": "communicate",
			"verb": "send",
			"target": {"type": "email", "identifier": "benefits@ssa.gov"},
			"payload": {"estimated_impact": {"regulatory_domains": ["gdpr"]}},
		},
	}}
	d.verdict == "escalate"
	codes(d) == ["regulated_domain", "regulated_recipient"]
}

test_the_lists_come_from_data if {
	settings := {"regulatory_domains": ["internal"], "recipient_domains": ["example.com"], "recipient_arguments": []}
	verdict_with(tagged(["internal"]), settings) == "escalate"
	verdict_with(emailing("a@example.com"), settings) == "escalate"
	verdict_with(tagged(["hipaa"]), settings) == "approve"
}

test_missing_settings_block if {
	settings := {"regulatory_domains": ["hipaa"], "recipient_domains": "gov"}
	d := decision with input as tagged([]) with data.regulated_domains as settings
	d.verdict == "block"
	codes(d) == ["invalid_template_settings"]
	d.reasons[0].message == concat("; ", [
		"`regulated_domains.recipient_arguments` must be a list of strings",
		"`regulated_domains.recipient_domains` must be a list of strings",
	])
}

# --- alternatives -------------------------------------------------------------

test_broken_settings_send_the_fix_to_an_administrator if {
	d := decision with input as tagged(["gdpr"]) with data.regulated_domains as {}
	d.verdict == "block"
	[a.code | some a in d.alternatives] == ["fix_template_settings"]
	d.alternatives[0].role == "tenant administrator"
}
