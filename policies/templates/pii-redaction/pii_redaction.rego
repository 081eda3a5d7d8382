# Template `pii-redaction`: approve messages with personal data redacted.
# Email addresses, payment card numbers (13 to 19 digits, optionally
# grouped by spaces or hyphens, passing the Luhn check) and US social
# security numbers (123-45-6789, valid area, group and serial) in
# every string of `payload.content` (a string or any JSON value) and of a
# tool call's `payload.arguments` are replaced by a placeholder. The answer is
# `approve_modified` with an RFC 6902 patch on the payload: one `replace`
# per changed string, at its JSON Pointer (`/content`,
# `/arguments/body`, `/arguments/cc/0/note`, …).
#
# Settings, in data.json under `pii_redaction`:
#   action_types    the action types whose payloads are redacted
#   redact          kind (`email`, `card_number`, `ssn`) → placeholder;
#                   remove a kind to keep it
#   keep_arguments  field names never redacted, with everything under
#                   them, in tool-call arguments and in structured content
#                   (recipients must stay usable); compared
#                   case-insensitively
#
# The gateway queries `data.lictor.decision` with the input document of
# docs/policies.md.
package lictor

import rego.v1

# Read by its path, not from the `data` root: a rule of package `lictor`
# reading `data` itself reads its own package too, which OPA refuses as
# recursion and regorus' compiled VM cannot run.
settings := s if {
	s := data.pii_redaction
} else := {}

action := input.intent.action

payload := object.get(action, "payload", {})

# The settings' values when they have the right type (`settings_problems`
# reports the others).
action_types := {type | some type in settings.action_types} if {
	string_list(settings.action_types)
} else := set()

kept_names := {lower(name) | some name in settings.keep_arguments} if {
	string_list(settings.keep_arguments)
} else := set()

placeholders := {kind: placeholder |
	some kind, placeholder in settings.redact
	is_string(placeholder)
} if {
	is_object(settings.redact)
} else := {}

# --- the strings to redact, each with its JSON Pointer in the payload --------

# Every value of `payload.content` (a string, or any JSON value) and of
# `payload.arguments` down to `max_nesting` levels, with its path (what
# `walk` gives, to a fixed depth: a rule cannot call itself, and `walk` does
# not run on regorus' compiled VM). Anything nested deeper is blocked
# (`payload_too_deep`), so nothing hides below what is read.
max_nesting := 10

nested_0 contains {"field": field, "path": [], "value": value} if {
	action.type in action_types
	some field in ["content", "arguments"]
	value := payload[field]
}

nested_1 contains {"field": node.field, "path": array.concat(node.path, [key]), "value": value} if {
	some node in nested_0
	collection(node.value)
	some key, value in node.value
}

nested_2 contains {"field": node.field, "path": array.concat(node.path, [key]), "value": value} if {
	some node in nested_1
	collection(node.value)
	some key, value in node.value
}

nested_3 contains {"field": node.field, "path": array.concat(node.path, [key]), "value": value} if {
	some node in nested_2
	collection(node.value)
	some key, value in node.value
}

nested_4 contains {"field": node.field, "path": array.concat(node.path, [key]), "value": value} if {
	some node in nested_3
	collection(node.value)
	some key, value in node.value
}

nested_5 contains {"field": node.field, "path": array.concat(node.path, [key]), "value": value} if {
	some node in nested_4
	collection(node.value)
	some key, value in node.value
}

nested_6 contains {"field": node.field, "path": array.concat(node.path, [key]), "value": value} if {
	some node in nested_5
	collection(node.value)
	some key, value in node.value
}

nested_7 contains {"field": node.field, "path": array.concat(node.path, [key]), "value": value} if {
	some node in nested_6
	collection(node.value)
	some key, value in node.value
}

nested_8 contains {"field": node.field, "path": array.concat(node.path, [key]), "value": value} if {
	some node in nested_7
	collection(node.value)
	some key, value in node.value
}

nested_9 contains {"field": node.field, "path": array.concat(node.path, [key]), "value": value} if {
	some node in nested_8
	collection(node.value)
	some key, value in node.value
}

nested_10 contains {"field": node.field, "path": array.concat(node.path, [key]), "value": value} if {
	some node in nested_9
	collection(node.value)
	some key, value in node.value
}

# The levels together. A level is read only when the one above it holds a
# non-empty collection, so a flat payload costs one level, not eleven.
nested := from_0

from_0 := nested_0 | from_1 if {
	branches_0
} else := nested_0

from_1 := nested_1 | from_2 if {
	branches_1
} else := nested_1

from_2 := nested_2 | from_3 if {
	branches_2
} else := nested_2

from_3 := nested_3 | from_4 if {
	branches_3
} else := nested_3

from_4 := nested_4 | from_5 if {
	branches_4
} else := nested_4

from_5 := nested_5 | from_6 if {
	branches_5
} else := nested_5

from_6 := nested_6 | from_7 if {
	branches_6
} else := nested_6

from_7 := nested_7 | from_8 if {
	branches_7
} else := nested_7

from_8 := nested_8 | from_9 if {
	branches_8
} else := nested_8

from_9 := nested_9 | from_10 if {
	branches_9
} else := nested_9

from_10 := nested_10

branches_0 if {
	some node in nested_0
	collection(node.value)
	count(node.value) > 0
}

branches_1 if {
	some node in nested_1
	collection(node.value)
	count(node.value) > 0
}

branches_2 if {
	some node in nested_2
	collection(node.value)
	count(node.value) > 0
}

branches_3 if {
	some node in nested_3
	collection(node.value)
	count(node.value) > 0
}

branches_4 if {
	some node in nested_4
	collection(node.value)
	count(node.value) > 0
}

branches_5 if {
	some node in nested_5
	collection(node.value)
	count(node.value) > 0
}

branches_6 if {
	some node in nested_6
	collection(node.value)
	count(node.value) > 0
}

branches_7 if {
	some node in nested_7
	collection(node.value)
	count(node.value) > 0
}

branches_8 if {
	some node in nested_8
	collection(node.value)
	count(node.value) > 0
}

branches_9 if {
	some node in nested_9
	collection(node.value)
	count(node.value) > 0
}

branches_10 if {
	some node in nested_10
	collection(node.value)
	count(node.value) > 0
}

# A value at the deepest level read that still holds something.
too_deep if branches_10

# (Iterating over a scalar is an error in regorus, nothing in OPA.)
collection(value) if is_object(value)

collection(value) if is_array(value)

collection(value) if is_set(value)

# Every string of those, except under a kept field name.
texts contains {"path": pointer, "value": node.value} if {
	some node in nested
	is_string(node.value)
	not kept(node.path)
	pointer := concat("/", array.concat(["", node.field], [pointer_token(step) | some step in node.path]))
}

kept(path) if {
	some step in path
	is_string(step)
	lower(step) in kept_names
}

# RFC 6901: `~` is written `~0` and `/` is written `~1`.
pointer_token(step) := replace(replace(sprintf("%v", [step]), "~", "~0"), "/", "~1")

# --- what each kind looks like ----------------------------------------------
#
# A kind without a placeholder is not looked for.

found(text, "email") := {m |
	placeholders.email
	some m in regex.find_n(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`, text, -1)
}

found(text, "card_number") := {m |
	placeholders.card_number
	some m in regex.find_n(`\b\d(?:[ -]?\d){12,18}\b`, text, -1)
	luhn_valid(m)
}

found(text, "ssn") := {m |
	placeholders.ssn
	some m in regex.find_n(`\b\d{3}-\d{2}-\d{4}\b`, text, -1)
	issuable_ssn(split(m, "-"))
}

# The Luhn check: from the rightmost digit, every second digit is doubled
# (its digits summed, hence the table); the total is a multiple of 10.
doubled := [0, 2, 4, 6, 8, 1, 3, 5, 7, 9]

luhn_valid(number) if {
	digits := [to_number(d) | some d in regex.find_n(`\d`, number, -1)]
	last := count(digits) - 1
	total := sum([luhn_value(d, last - i) | some i, d in digits])
	total % 10 == 0
}

luhn_value(digit, from_right) := digit if from_right % 2 == 0

luhn_value(digit, from_right) := doubled[digit] if from_right % 2 == 1

# The SSA never issues area 000, 666 or 900-999, group 00 or serial 0000.
issuable_ssn(parts) if {
	not parts[0] in {"000", "666"}
	not startswith(parts[0], "9")
	parts[1] != "00"
	parts[2] != "0000"
}

# --- redaction --------------------------------------------------------------
#
# Kinds are redacted one after the other, emails first: a number inside an
# address goes with the address, and each kind is looked for in what the
# previous ones left.

kinds := ["email", "card_number", "ssn"]

replaced(text, matches, kind) := strings.replace_n({m: placeholders[kind] | some m in matches}, text)

scan(text) := {"matches": {"email": emails, "card_number": cards, "ssn": ssns}, "result": result} if {
	emails := found(text, "email")
	no_emails := replaced(text, emails, "email")
	cards := found(no_emails, "card_number")
	no_cards := replaced(no_emails, cards, "card_number")
	ssns := found(no_cards, "ssn")
	result := replaced(no_cards, ssns, "ssn")
}

# Each text's scan, by JSON Pointer (a rule, so each text is scanned once).
scans[text.path] := scan(text.value) if {
	some text in texts
}

redactions contains {"op": "replace", "path": path, "value": scanned.result} if {
	some path, scanned in scans
	some matches in scanned.matches
	count(matches) > 0
}

# --- approve_modified -------------------------------------------------------

descriptions := {
	"email": "email address(es)",
	"card_number": "payment card number(s)",
	"ssn": "US social security number(s)",
}

modifications contains reason if {
	some kind in kinds
	n := count({m | some scanned in scans; some m in scanned.matches[kind]})
	n > 0
	reason := {
		"code": concat("_", [kind, "redacted"]),
		"message": sprintf("%v %v redacted", [n, descriptions[kind]]),
	}
}

# --- settings ---------------------------------------------------------------
#
# Missing or mistyped settings would silently leave data in place; broken
# settings block instead (fail closed).

settings_problems contains sprintf("`pii_redaction.%v` must be a list of strings", [name]) if {
	some name in ["action_types", "keep_arguments"]
	not string_list(object.get(settings, name, null))
}

settings_problems contains "`pii_redaction.redact` must be an object of placeholders" if {
	not is_object(object.get(settings, "redact", null))
}

settings_problems contains sprintf("`pii_redaction.redact.%v` is not a kind (%v)", [kind, concat(", ", kinds)]) if {
	is_object(settings.redact)
	some kind, _ in settings.redact
	not kind in kinds
}

settings_problems contains sprintf("`pii_redaction.redact.%v` must be a string", [kind]) if {
	is_object(settings.redact)
	some kind, placeholder in settings.redact
	not is_string(placeholder)
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

blocks contains reason if {
	too_deep
	reason := {
		"code": "payload_too_deep",
		"message": sprintf("the payload nests values more than %v levels deep, deeper than the policy reads", [max_nesting]),
	}
}


# --- alternatives: what a blocked agent could do instead --------------------
#
# Broken settings are a tenant administrator's to fix; a payload nested
# too deeply, the agent's (docs/policies.md, "Alternatives").
alternatives contains {
	"code": "nest_less",
	"description": sprintf("declare the action again with its content and arguments nested at most %v levels deep", [max_nesting]),
} if {
	too_deep
}

alternatives contains {
	"code": "fix_template_settings",
	"description": "a tenant administrator corrects the `pii_redaction` settings in the bundle's data.json and promotes it",
	"requires": "human",
	"role": "tenant administrator",
} if {
	count(settings_problems) > 0
}

# --- the decision -----------------------------------------------------------

verdict := "block" if {
	count(blocks) > 0
} else := "approve_modified" if {
	count(modifications) > 0
} else := "approve"

patch := sort(redactions) if {
	verdict == "approve_modified"
} else := []

decision := {
	"verdict": verdict,
	"reasons": array.concat(sort(blocks), sort(modifications)),
	"patch": patch,
	"alternatives": suggested,
}

# Alternatives answer a block; other verdicts let the agent go ahead.
suggested := sort(alternatives) if {
	verdict == "block"
} else := []

