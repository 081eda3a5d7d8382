# Template `destructive-verbs`: block any intent whose verb contains a
# destructive word, whatever it targets and however little it reaches.
#
# Settings, in data.json under `destructive_verbs`:
#   verbs         the destructive words. Each is compared,
#                 case-insensitively, with every word of the intent's verb.
#   handoff_role  who takes over what is blocked (optional)
#
# The gateway queries `data.lictor.decision` with the input document of
# docs/policies.md.
package lictor

import rego.v1

# Read by its path, not from the `data` root: a rule of package `lictor`
# reading `data` itself reads its own package too, which OPA refuses as
# recursion and regorus' compiled VM cannot run.
settings := s if {
	s := data.destructive_verbs
} else := {}

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


# --- alternatives: what a blocked agent could do instead --------------------
#
# Every block suggests at least one (docs/policies.md, "Alternatives"). The
# person a hand-off names is `destructive_verbs.handoff_role` ("data owner" when unset).

handoff_role := settings.handoff_role if {
	valid_role(settings.handoff_role)
} else := "data owner"

valid_role(role) if {
	is_string(role)
	count(role) <= 200
	trim_space(role) != ""
	not regex.match(`[\x00-\x1f\x7f]`, role)
}

settings_problems contains "`destructive_verbs.handoff_role` must be a name of 1 to 200 characters" if {
	not valid_role(object.get(settings, "handoff_role", "data owner"))
}

# Broken settings: the fix is a tenant administrator's.
alternatives contains {
	"code": "fix_template_settings",
	"description": "a tenant administrator corrects the `destructive_verbs` settings in the bundle's data.json and promotes it",
	"requires": "human",
	"role": "tenant administrator",
} if {
	count(settings_problems) > 0
}

alternatives contains {
	"code": "hand_to_human",
	"description": sprintf("ask the %v to `%v` this %v", [handoff_role, action.verb, target_name]),
	"requires": "human",
	"role": handoff_role,
} if {
	count(matched_words) > 0
}

target_name := sprintf("%v `%v`", [action.target.type, action.target.identifier]) if {
	action.target
} else := "target"

# --- the decision -----------------------------------------------------------

verdict := "block" if {
	count(blocks) > 0
} else := "approve"

decision := {
	"verdict": verdict,
	"reasons": sort(blocks),
	"alternatives": suggested,
}

# Alternatives answer a block; other verdicts let the agent go ahead.
suggested := sort(alternatives) if {
	verdict == "block"
} else := []

