# Template `destructive-verbs`: block any intent whose verb contains a
# destructive word, whatever it targets and however little it reaches.
#
# Settings, in data.json under `destructive_verbs`:
#   verbs  the destructive words. Each is compared, case-insensitively, with
#          every word of the intent's verb.
#
# The gateway queries `data.lictor.decision` with the input document of
# docs/policies.md.
package lictor

import rego.v1

settings := object.get(data, "destructive_verbs", {})

action := input.intent.action

# --- the verb, word by word -------------------------------------------------
#
# Words end at anything but a letter or a digit and at camelCase humps, so
# `bulk_delete`, `DELETE-ALL`, `deleteUser` and `HTTPDelete` all contain
# `delete` (and `undelete` or `deleted` do not).
verb_words contains word if {
	humps := regex.replace(action.verb, `([a-z0-9])([A-Z])`, "${1} ${2}")
	acronyms := regex.replace(humps, `([A-Z])([A-Z][a-z])`, "${1} ${2}")
	some word in regex.split(`[^a-z0-9]+`, lower(acronyms))
	word != ""
}

# (Empty when the settings are broken: `settings_problems` blocks then.)
destructive_words := {lower(verb) | some verb in settings.verbs} if {
	string_list(settings.verbs)
} else := set()

matched_words contains word if {
	some word in verb_words
	word in destructive_words
}

# --- block ------------------------------------------------------------------

blocks contains reason if {
	count(matched_words) > 0
	reason := {
		"code": "destructive_verb",
		"message": sprintf(
			"verb `%v` is destructive (%v): destructive actions are blocked",
			[action.verb, concat(", ", sort(matched_words))],
		),
	}
}

# Without a usable word list the template would approve everything; broken
# settings block instead (fail closed).
settings_problems contains "`destructive_verbs.verbs` must be a list of strings" if {
	not string_list(object.get(settings, "verbs", null))
}

string_list(value) if {
	is_array(value)
	every item in value {
		is_string(item)
	}
}

blocks contains reason if {
	count(settings_problems) > 0
	reason := {"code": "invalid_template_settings", "message": concat("; ", sort(settings_problems))}
}

# --- the decision -----------------------------------------------------------

verdict := "block" if {
	count(blocks) > 0
} else := "approve"

decision := {
	"verdict": verdict,
	"reasons": sort(blocks),
}
