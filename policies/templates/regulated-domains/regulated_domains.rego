# Template `regulated-domains`: a human approves every action that touches
# a regulated domain, either
#   - declared: one of the intent's
#     `payload.estimated_impact.regulatory_domains` tags is regulated, or
#   - by its recipients: an email address the action goes to is under a
#     regulated email domain. Recipients are the addresses in
#     `action.target.identifier` and, for tool calls, in the arguments
#     named in `recipient_arguments` (at any depth, in lists too).
#
# Settings, in data.json under `regulated_domains` (all compared
# case-insensitively):
#   regulatory_domains   the regulated tags (`hipaa`, `pci`, `gdpr`, …)
#   recipient_domains    email domains whose addresses, and those of their
#                        subdomains, are regulated (`gov` covers `irs.gov`)
#   recipient_arguments  tool-call argument names that hold recipients
#
# The gateway queries `data.lictor.decision` with the input document of
# docs/policies.md.
package lictor

import rego.v1

# Read by its path, not from the `data` root: a rule of package `lictor`
# reading `data` itself reads its own package too, which OPA refuses as
# recursion and regorus' compiled VM cannot run.
settings := s if {
	s := data.regulated_domains
} else := {}

action := input.intent.action

payload := object.get(action, "payload", {})

impact := object.get(payload, "estimated_impact", {})

lowered(name) := {lower(item) | some item in settings[name]}

# --- declared regulatory domains --------------------------------------------

declared_domains contains tag if {
	some declared in object.get(impact, "regulatory_domains", [])
	tag := lower(declared)
	tag in lowered("regulatory_domains")
}

escalations contains reason if {
	count(declared_domains) > 0
	reason := {
		"code": "regulated_domain",
		"message": sprintf(
			"the action falls under %v: regulated actions need approval",
			[concat(", ", sort(declared_domains))],
		),
	}
}

# --- recipients under regulated email domains --------------------------------

addresses_in(text) := {lower(address) |
	some address in regex.find_n(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+`, text, -1)
}

recipients contains address if {
	identifier := object.get(object.get(action, "target", {}), "identifier", "")
	some address in addresses_in(identifier)
}

# Every value of `payload.arguments` down to `max_nesting` levels, with its
# path (what `walk` gives, to a fixed depth: a rule cannot call itself, and
# `walk` does not run on regorus' compiled VM). Anything nested deeper is
# blocked (`payload_too_deep`), so no recipient hides below what is read.
max_nesting := 10

nested_0 contains {"field": "arguments", "path": [], "value": value} if {
	value := payload.arguments
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

recipients contains address if {
	some node in nested
	is_string(node.value)
	names := [segment | some segment in node.path; is_string(segment)]
	count(names) > 0
	lower(names[count(names) - 1]) in lowered("recipient_arguments")
	some address in addresses_in(node.value)
}

# `domain` is `parent` or one of its subdomains.
within(domain, parent) if domain == parent

within(domain, parent) if endswith(domain, concat("", [".", parent]))

regulated_recipients contains address if {
	some address in recipients
	domain := split(address, "@")[1]
	some parent in lowered("recipient_domains")
	within(domain, parent)
}

escalations contains reason if {
	count(regulated_recipients) > 0
	reason := {
		"code": "regulated_recipient",
		"message": sprintf(
			"%v under a regulated domain: sending to it needs approval",
			[concat(", ", sort(regulated_recipients))],
		),
	}
}

# --- settings ---------------------------------------------------------------
#
# A missing or mistyped list would silently never match; broken settings
# block instead (fail closed).

settings_problems contains sprintf("`regulated_domains.%v` must be a list of strings", [name]) if {
	some name in ["regulatory_domains", "recipient_domains", "recipient_arguments"]
	not string_list(object.get(settings, name, null))
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
		"message": sprintf("the tool call's arguments nest values more than %v levels deep, deeper than the policy reads", [max_nesting]),
	}
}


# --- alternatives: what a blocked agent could do instead --------------------
#
# Broken settings are a tenant administrator's to fix; arguments nested
# too deeply, the agent's (docs/policies.md, "Alternatives").
alternatives contains {
	"code": "nest_less",
	"description": sprintf("call the tool again with its arguments nested at most %v levels deep", [max_nesting]),
} if {
	too_deep
}

alternatives contains {
	"code": "fix_template_settings",
	"description": "a tenant administrator corrects the `regulated_domains` settings in the bundle's data.json and promotes it",
	"requires": "human",
	"role": "tenant administrator",
} if {
	count(settings_problems) > 0
}

# --- the decision -----------------------------------------------------------

verdict := "block" if {
	count(blocks) > 0
} else := "escalate" if {
	count(escalations) > 0
} else := "approve"

decision := {
	"verdict": verdict,
	"reasons": array.concat(sort(blocks), sort(escalations)),
	"alternatives": suggested,
}

# Alternatives answer a block; other verdicts let the agent go ahead.
suggested := sort(alternatives) if {
	verdict == "block"
} else := []

