# Lictor default bundle.
#
# The gateway queries `data.lictor.decision` with the input document
# described in docs/policies.md and expects
#   {verdict, reasons: [{code, message}], patch?: [RFC 6902 ops],
#    alternatives?: [{code?, description, action?, requires?, role?}]}.
# Every rule that matches contributes a reason; the most restrictive verdict
# wins: block > escalate > approve_modified > approve.
package lictor

import rego.v1

# --- thresholds -------------------------------------------------------------

transact_block_usd := 10000

bulk_destructive_audience := 1000

irreversible_escalate_usd := 1000

publish_escalate_audience := 10000

destructive_verbs := {"delete", "drop", "purge", "wipe", "truncate"}

redacted_action_types := {"communicate", "publish"}

# --- facts about the intent --------------------------------------------------

action := input.intent.action

payload := object.get(action, "payload", {})

impact := object.get(payload, "estimated_impact", {})

exposure_usd := object.get(impact, "financial_exposure_usd", 0)

audience := object.get(impact, "audience_size", 0)

# Verbs compare case-insensitively, word by word. Words end at anything but
# a letter or a digit and at camelCase humps, so `bulk_delete`, `DELETE-ALL`,
# `deleteMany`, `bulkDelete` and `DeleteObjects` are destructive too (and
# `undelete` or `deleted` are not).
verb_words contains word if {
	humps := regex.replace(action.verb, `([a-z0-9])([A-Z])`, "${1} ${2}")
	acronyms := regex.replace(humps, `([A-Z])([A-Z][a-z])`, "${1} ${2}")
	some word in regex.split(`[^a-z0-9]+`, lower(acronyms))
	word != ""
}

destructive if {
	some word in verb_words
	word in destructive_verbs
}

# --- block ------------------------------------------------------------------

blocks contains reason if {
	action.type == "transact"
	exposure_usd > transact_block_usd
	reason := {
		"code": "transact_over_limit",
		"message": sprintf("transactions above %v USD are blocked (exposure %v USD)", [transact_block_usd, exposure_usd]),
	}
}

blocks contains reason if {
	destructive
	audience > bulk_destructive_audience
	reason := {
		"code": "bulk_destructive_action",
		"message": sprintf("destructive verb `%v` on more than %v records is blocked (audience %v)", [action.verb, bulk_destructive_audience, audience]),
	}
}

blocks contains reason if {
	action.type in redacted_action_types
	too_deep
	reason := {
		"code": "payload_too_deep",
		"message": sprintf("the payload nests values more than %v levels deep, deeper than the policy reads", [max_nesting]),
	}
}

# --- escalate ---------------------------------------------------------------

escalations contains reason if {
	impact.reversible == false
	exposure_usd > irreversible_escalate_usd
	reason := {
		"code": "irreversible_high_value",
		"message": sprintf("irreversible action with exposure above %v USD needs approval (exposure %v USD)", [irreversible_escalate_usd, exposure_usd]),
	}
}

escalations contains reason if {
	action.type == "publish"
	audience > publish_escalate_audience
	reason := {
		"code": "publish_wide_audience",
		"message": sprintf("publishing to more than %v people needs approval (audience %v)", [publish_escalate_audience, audience]),
	}
}

# --- approve_modified: redact card numbers and US SSNs ----------------------
#
# In every string of `payload.content` (a string, or any JSON value such as
# `{"recipient": …, "message_body": …}`) and of `payload.arguments` (a tool
# call's arguments), so messages sent through tools are redacted too.

# Every value of `payload.content` and `payload.arguments` down to
# `max_nesting` levels, with its path (what `walk` gives, to a fixed
# depth: a rule cannot call itself, and `walk` does not run on regorus'
# compiled VM). Anything nested deeper is blocked (`payload_too_deep`), so
# nothing hides below what is read.
max_nesting := 10

nested_0 contains {"field": field, "path": [], "value": value} if {
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

# The strings to inspect, each with its JSON Pointer into the payload:
# `/content` for string content, `/content/message_body`,
# `/arguments/cc/0/note`, … inside structured values.
texts contains {"path": pointer, "value": node.value} if {
	some node in nested
	is_string(node.value)
	pointer := concat("/", array.concat(["", node.field], [escape_pointer(segment) | some segment in node.path]))
}

escape_pointer(segment) := replace(replace(sprintf("%v", [segment]), "~", "~0"), "/", "~1")

cards_in(text) := {candidate |
	some candidate in regex.find_n(`\b(?:\d[ -]?){12,18}\d\b`, text, -1)
	luhn_valid(regex.find_n(`\d`, candidate, -1))
}

ssns_in(text) := {candidate |
	some candidate in regex.find_n(`\b\d{3}-\d{2}-\d{4}\b`, text, -1)
	valid_ssn(split(candidate, "-"))
}

# SSA never issues area 000, 666 or 900-999, group 00 or serial 0000.
valid_ssn(parts) if {
	not parts[0] in {"000", "666"}
	not startswith(parts[0], "9")
	parts[1] != "00"
	parts[2] != "0000"
}

# From the rightmost digit, every second digit is doubled (its digits
# summed, hence the table); the total is a multiple of 10.
doubled := [0, 2, 4, 6, 8, 1, 3, 5, 7, 9]

luhn_valid(digits) if {
	last := count(digits) - 1
	total := sum([luhn_value(to_number(d), last - i) | some i, d in digits])
	total % 10 == 0
}

luhn_value(digit, from_right) := digit if from_right % 2 == 0

luhn_value(digit, from_right) := doubled[digit] if from_right % 2 == 1

# Each text's card numbers and SSNs, by JSON Pointer: a rule, so that each
# text is scanned once for the reasons and the patch alike.
scans[text.path] := {"text": text.value, "cards": cards_in(text.value), "ssns": ssns_in(text.value)} if {
	some text in texts
}

card_numbers contains number if {
	some scanned in scans
	some number in scanned.cards
}

ssn_numbers contains number if {
	some scanned in scans
	some number in scanned.ssns
}

redactions contains {"op": "replace", "path": path, "value": redacted} if {
	some path, scanned in scans
	count(scanned.cards) + count(scanned.ssns) > 0
	redacted := strings.replace_n(
		object.union(
			{number: "[REDACTED CARD]" | some number in scanned.cards},
			{number: "[REDACTED SSN]" | some number in scanned.ssns},
		),
		scanned.text,
	)
	redacted != scanned.text
}

modifications contains reason if {
	action.type in redacted_action_types
	count(card_numbers) > 0
	reason := {
		"code": "card_number_redacted",
		"message": sprintf("%v payment card number(s) redacted", [count(card_numbers)]),
	}
}

modifications contains reason if {
	action.type in redacted_action_types
	count(ssn_numbers) > 0
	reason := {
		"code": "ssn_redacted",
		"message": sprintf("%v US social security number(s) redacted", [count(ssn_numbers)]),
	}
}

# --- alternatives: what a blocked agent could do instead --------------------
#
# Every block rule suggests at least one (docs/policies.md, "Alternatives"):
# an action the agent can declare instead, as a merge patch of its action,
# and a hand-off to the person who may do what the agent may not.

# Parts above `irreversible_escalate_usd` of an irreversible transfer
# escalate: the split needs an approver too.
split_requirement := {"requires": "approval", "role": "payments approver"} if {
	impact.reversible == false
	transact_block_usd > irreversible_escalate_usd
} else := {}

alternatives contains alternative if {
	action.type == "transact"
	exposure_usd > transact_block_usd
	alternative := object.union(
		{
			"code": "split_below_limit",
			"description": sprintf("split it into %v transactions of at most %v USD each", [ceil(exposure_usd / transact_block_usd), transact_block_usd]),
			"action": {"payload": {"estimated_impact": {"financial_exposure_usd": transact_block_usd}}},
		},
		split_requirement,
	)
}

alternatives contains {
	"code": "hand_to_human",
	"description": sprintf("ask a payments approver to make this %v USD transaction", [exposure_usd]),
	"requires": "human",
	"role": "payments approver",
} if {
	action.type == "transact"
	exposure_usd > transact_block_usd
}

alternatives contains {
	"code": "narrow_audience",
	"description": sprintf("`%v` at most %v records at a time (%v batches for %v)", [action.verb, bulk_destructive_audience, ceil(audience / bulk_destructive_audience), audience]),
	"action": {"payload": {"estimated_impact": {"audience_size": bulk_destructive_audience}}},
} if {
	destructive
	audience > bulk_destructive_audience
}

alternatives contains {
	"code": "hand_to_human",
	"description": sprintf("ask the data owner to `%v` these %v records", [action.verb, audience]),
	"requires": "human",
	"role": "data owner",
} if {
	destructive
	audience > bulk_destructive_audience
}

alternatives contains {
	"code": "nest_less",
	"description": sprintf("declare the action again with its content and arguments nested at most %v levels deep", [max_nesting]),
} if {
	action.type in redacted_action_types
	too_deep
}

# --- the decision -----------------------------------------------------------

verdict := "block" if {
	count(blocks) > 0
} else := "escalate" if {
	count(escalations) > 0
} else := "approve_modified" if {
	count(modifications) > 0
} else := "approve"

reasons := array.concat(array.concat(sort(blocks), sort(escalations)), sort(modifications))

# An escalation keeps its redactions: a human's approval answers
# `approve_modified` with them.
patch := sort(redactions) if {
	verdict in {"approve_modified", "escalate"}
} else := []

decision := {
	"verdict": verdict,
	"reasons": reasons,
	"patch": patch,
	"alternatives": suggested,
}

# Alternatives answer a block; other verdicts let the agent go ahead.
suggested := sort(alternatives) if {
	verdict == "block"
} else := []
