# Unit tests of the `destructive-verbs` template: every `test_*` rule must
# be true (`lictor policy test policies/templates/destructive-verbs`).
package lictor

import rego.v1

with_verb(verb) := {"intent": {
	"agent": {"id": "agent-1"},
	"action": {"type": "modify", "verb": verb},
	"context": {},
}}

codes(d) := [r.code | some r in d.reasons]

verdict_of(verb) := d.verdict if {
	d := decision with input as with_verb(verb)
}

test_a_harmless_verb_is_approved if {
	d := decision with input as with_verb("update")
	d.verdict == "approve"
	d.reasons == []
}

test_a_destructive_verb_is_blocked if {
	d := decision with input as with_verb("delete")
	d.verdict == "block"
	codes(d) == ["destructive_verb"]
}

test_verbs_compare_case_insensitively if {
	d := decision with input as with_verb("PURGE")
	d.verdict == "block"
}

test_destructive_words_inside_verbs_count if {
	every verb in ["bulk_delete", "DELETE-ALL", "drop.table", "ns:wipe", "deleteUser", "HTTPDelete"] {
		verdict_of(verb) == "block"
	}
}

test_words_only_match_whole if {
	every verb in ["undelete", "deleted", "dropdown", "wiper"] {
		verdict_of(verb) == "approve"
	}
}

test_the_reason_names_the_verb_and_its_words if {
	d := decision with input as with_verb("drop_and_purge")
	d.reasons[0].message == "verb `drop_and_purge` is destructive (drop, purge): destructive actions are blocked"
}

test_the_word_list_comes_from_data if {
	d := decision with input as with_verb("archive") with data.destructive_verbs as {"verbs": ["Archive"]}
	d.verdict == "block"
	d2 := decision with input as with_verb("delete") with data.destructive_verbs as {"verbs": ["archive"]}
	d2.verdict == "approve"
}

test_missing_settings_block if {
	d := decision with input as with_verb("update") with data.destructive_verbs as {}
	d.verdict == "block"
	codes(d) == ["invalid_template_settings"]
}

test_malformed_settings_block if {
	d := decision with input as with_verb("update") with data.destructive_verbs as {"verbs": "delete"}
	d.verdict == "block"
}

# --- alternatives -------------------------------------------------------------

test_a_block_hands_the_action_to_the_data_owner if {
	input_doc := {"intent": {
		"agent": {"id": "agent-1"},
		"action": {"type": "modify", "verb": "delete", "target": {"type": "table", "identifier": "crm.contacts"}},
		"context": {},
	}}
	d := decision with input as input_doc
	[a.code | some a in d.alternatives] == ["hand_to_human"]
	d.alternatives[0].role == "data owner"
	d.alternatives[0].requires == "human"
	contains(d.alternatives[0].description, "table `crm.contacts`")
}

test_broken_settings_send_the_fix_to_an_administrator if {
	d := decision with input as with_verb("update") with data.destructive_verbs as {"verbs": "delete"}
	[a.code | some a in d.alternatives] == ["fix_template_settings"]
}
