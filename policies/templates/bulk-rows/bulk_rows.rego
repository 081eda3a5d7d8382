# Template `bulk-rows`: ceilings on how many people or records an action
# reaches, as the caller estimates it in
# `intent.action.payload.estimated_impact.audience_size`. Above one limit a
# human must approve; above a higher one the action is blocked. Intents
# without an estimate are not judged here.
#
# Settings, in data.json under `bulk_rows`:
#   escalate_above  escalate when audience_size is above this (null: never)
#   block_above     block when audience_size is above this (null: never)
#   overrides       per action type (`modify`, `publish`, …), either limit
#                   replacing the default for that type
#   handoff_role    who approves or takes over what is blocked (optional)
#
# The gateway queries `data.lictor.decision` with the input document of
# docs/policies.md.
package lictor

import rego.v1

# Read by its path, not from the `data` root: a rule of package `lictor`
# reading `data` itself reads its own package too, which OPA refuses as
# recursion and regorus' compiled VM cannot run.
settings := s if {
	s := data.bulk_rows
} else := {}

action := input.intent.action

impact := object.get(object.get(action, "payload", {}), "estimated_impact", {})

# Undefined when the caller gave no estimate: then no rule below applies.
reach := impact.audience_size

limit_names := {"escalate_above", "block_above"}

# The well-formed overrides (`settings_problems` reports the others).
overrides := {type: override |
	some type, override in settings.overrides
	is_object(override)
} if {
	is_object(settings.overrides)
} else := {}

# The defaults, with this action type's override on top.
limits := object.union(object.filter(settings, limit_names), object.get(overrides, action.type, {}))

above(name) if {
	is_number(limits[name])
	reach > limits[name]
}

# --- block ------------------------------------------------------------------

blocks contains reason if {
	above("block_above")
	reason := {
		"code": "bulk_above_block_limit",
		"message": sprintf(
			"`%v` reaching %v people or records is blocked (limit %v for `%v`)",
			[action.verb, reach, limits.block_above, action.type],
		),
	}
}

# --- escalate ---------------------------------------------------------------

escalations contains reason if {
	above("escalate_above")
	not above("block_above")
	reason := {
		"code": "bulk_above_escalate_limit",
		"message": sprintf(
			"`%v` reaching %v people or records needs approval (limit %v for `%v`)",
			[action.verb, reach, limits.escalate_above, action.type],
		),
	}
}

# --- settings ---------------------------------------------------------------
#
# A missing or mistyped limit would silently never apply; broken settings
# block instead (fail closed).

action_types := {"communicate", "transact", "access", "control", "publish", "recommend", "modify"}

valid_limit(value) if is_number(value)

valid_limit(value) if is_null(value)

settings_problems contains sprintf("`bulk_rows.%v` must be a number or null", [name]) if {
	some name in limit_names
	not valid_limit(object.get(settings, name, "missing"))
}

settings_problems contains "`bulk_rows.overrides` must be an object" if {
	not is_object(object.get(settings, "overrides", {}))
}

settings_problems contains sprintf("`bulk_rows.overrides.%v` must be an object of limits", [type]) if {
	is_object(settings.overrides)
	some type, override in settings.overrides
	not is_object(override)
}

settings_problems contains sprintf("`bulk_rows.overrides.%v` is not an action type", [type]) if {
	some type, _ in overrides
	not type in action_types
}

settings_problems contains sprintf("`bulk_rows.overrides.%v.%v` must be a number or null", [type, name]) if {
	some type, override in overrides
	some name, value in override
	name in limit_names
	not valid_limit(value)
}

settings_problems contains sprintf("`bulk_rows.overrides.%v.%v` is not a limit", [type, name]) if {
	some type, override in overrides
	some name, _ in override
	not name in limit_names
}

blocks contains reason if {
	count(settings_problems) > 0
	reason := {"code": "invalid_template_settings", "message": concat("; ", sort(settings_problems))}
}


# --- alternatives: what a blocked agent could do instead --------------------
#
# Every block suggests at least one (docs/policies.md, "Alternatives"). The
# person a hand-off names is `bulk_rows.handoff_role` ("data owner" when unset).

handoff_role := settings.handoff_role if {
	valid_role(settings.handoff_role)
} else := "data owner"

valid_role(role) if {
	is_string(role)
	count(role) <= 200
	trim_space(role) != ""
	not regex.match(`[\x00-\x1f\x7f]`, role)
}

settings_problems contains "`bulk_rows.handoff_role` must be a name of 1 to 200 characters" if {
	not valid_role(object.get(settings, "handoff_role", "data owner"))
}

# Broken settings: the fix is a tenant administrator's.
alternatives contains {
	"code": "fix_template_settings",
	"description": "a tenant administrator corrects the `bulk_rows` settings in the bundle's data.json and promotes it",
	"requires": "human",
	"role": "tenant administrator",
} if {
	count(settings_problems) > 0
}

reduced_requirement := {"requires": "approval", "role": handoff_role} if {
	is_number(limits.escalate_above)
	limits.block_above > limits.escalate_above
} else := {}

alternatives contains alternative if {
	above("block_above")
	limits.block_above >= 1
	alternative := object.union(
		{
			"code": "narrow_audience",
			"description": sprintf(
				"`%v` at most %v people or records at a time (%v batches for %v)",
				[action.verb, limits.block_above, ceil(reach / limits.block_above), reach],
			),
			"action": {"payload": {"estimated_impact": {"audience_size": limits.block_above}}},
		},
		reduced_requirement,
	)
}

alternatives contains {
	"code": "hand_to_human",
	"description": sprintf("ask the %v to `%v` reaching %v people or records", [handoff_role, action.verb, reach]),
	"requires": "human",
	"role": handoff_role,
} if {
	above("block_above")
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

