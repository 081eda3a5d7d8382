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

recipients contains address if {
	walk(object.get(payload, "arguments", {}), [path, value])
	is_string(value)
	names := [segment | some segment in path; is_string(segment)]
	count(names) > 0
	lower(names[count(names) - 1]) in lowered("recipient_arguments")
	some address in addresses_in(value)
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


# --- alternatives: what a blocked agent could do instead --------------------
#
# The only block here is broken settings (docs/policies.md, "Alternatives"):
# the fix is a tenant administrator's.
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

