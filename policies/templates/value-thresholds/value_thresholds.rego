# Template `value-thresholds`: ceilings on the money an action puts at
# stake, as the caller estimates it in
# `intent.action.payload.estimated_impact.financial_exposure_usd`. Above one
# amount a human must approve; above a higher one the action is blocked.
# Intents without an estimate are not judged here.
#
# Settings, in data.json under `value_thresholds` (amounts in USD):
#   escalate_above  escalate when the exposure is above this (null: never)
#   block_above     block when the exposure is above this (null: never)
#   overrides       per action type (`transact`, `recommend`, …), either
#                   amount replacing the default for that type
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
	s := data.value_thresholds
} else := {}

action := input.intent.action

impact := object.get(object.get(action, "payload", {}), "estimated_impact", {})

# Undefined when the caller gave no estimate: then no rule below applies.
exposure := impact.financial_exposure_usd

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
	exposure > limits[name]
}

# --- block ------------------------------------------------------------------

blocks contains reason if {
	above("block_above")
	reason := {
		"code": "exposure_above_block_limit",
		"message": sprintf(
			"`%v` with %v USD at stake is blocked (limit %v USD for `%v`)",
			[action.verb, exposure, limits.block_above, action.type],
		),
	}
}

# --- escalate ---------------------------------------------------------------

escalations contains reason if {
	above("escalate_above")
	not above("block_above")
	reason := {
		"code": "exposure_above_escalate_limit",
		"message": sprintf(
			"`%v` with %v USD at stake needs approval (limit %v USD for `%v`)",
			[action.verb, exposure, limits.escalate_above, action.type],
		),
	}
}

# --- settings ---------------------------------------------------------------
#
# A missing or mistyped amount would silently never apply; broken settings
# block instead (fail closed).

action_types := {"communicate", "transact", "access", "control", "publish", "recommend", "modify"}

valid_limit(value) if is_number(value)

valid_limit(value) if is_null(value)

settings_problems contains sprintf("`value_thresholds.%v` must be a number or null", [name]) if {
	some name in limit_names
	not valid_limit(object.get(settings, name, "missing"))
}

settings_problems contains "`value_thresholds.overrides` must be an object" if {
	not is_object(object.get(settings, "overrides", {}))
}

settings_problems contains sprintf("`value_thresholds.overrides.%v` must be an object of amounts", [type]) if {
	is_object(settings.overrides)
	some type, override in settings.overrides
	not is_object(override)
}

settings_problems contains sprintf("`value_thresholds.overrides.%v` is not an action type", [type]) if {
	some type, _ in overrides
	not type in action_types
}

settings_problems contains sprintf("`value_thresholds.overrides.%v.%v` must be a number or null", [type, name]) if {
	some type, override in overrides
	some name, value in override
	name in limit_names
	not valid_limit(value)
}

settings_problems contains sprintf("`value_thresholds.overrides.%v.%v` is not an amount", [type, name]) if {
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
# person a hand-off names is `value_thresholds.handoff_role` ("payments approver" when unset).

handoff_role := settings.handoff_role if {
	valid_role(settings.handoff_role)
} else := "payments approver"

valid_role(role) if {
	is_string(role)
	count(role) <= 200
	trim_space(role) != ""
	not regex.match(`[\x00-\x1f\x7f]`, role)
}

settings_problems contains "`value_thresholds.handoff_role` must be a name of 1 to 200 characters" if {
	not valid_role(object.get(settings, "handoff_role", "payments approver"))
}

# Broken settings: the fix is a tenant administrator's.
alternatives contains {
	"code": "fix_template_settings",
	"description": "a tenant administrator corrects the `value_thresholds` settings in the bundle's data.json and promotes it",
	"requires": "human",
	"role": "tenant administrator",
} if {
	count(settings_problems) > 0
}

# The most the action may put at stake, and who approves it when that is
# still above the escalation limit.
reduced_requirement := {"requires": "approval", "role": handoff_role} if {
	is_number(limits.escalate_above)
	limits.block_above > limits.escalate_above
} else := {}

alternatives contains alternative if {
	above("block_above")
	limits.block_above > 0
	alternative := object.union(
		{
			"code": "reduce_exposure",
			"description": sprintf(
				"`%v` with at most %v USD at stake, in further actions for the rest",
				[action.verb, limits.block_above],
			),
			"action": {"payload": {"estimated_impact": {"financial_exposure_usd": limits.block_above}}},
		},
		reduced_requirement,
	)
}

alternatives contains {
	"code": "hand_to_human",
	"description": sprintf("ask a %v to `%v` with %v USD at stake", [handoff_role, action.verb, exposure]),
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

