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
#
# The gateway queries `data.lictor.decision` with the input document of
# docs/policies.md.
package lictor

import rego.v1

settings := object.get(data, "value_thresholds", {})

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

# --- the decision -----------------------------------------------------------

verdict := "block" if {
	count(blocks) > 0
} else := "escalate" if {
	count(escalations) > 0
} else := "approve"

decision := {
	"verdict": verdict,
	"reasons": array.concat(sort(blocks), sort(escalations)),
}
