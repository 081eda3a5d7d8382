{{/* The release's resource name. */}}
{{- define "lictor.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels every resource carries. */}}
{{- define "lictor.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{ include "lictor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Labels that select the gateway's pods. */}}
{{- define "lictor.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "lictor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "lictor.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* What the chart refuses to render: settings that would lose data or split the replicas. */}}
{{- define "lictor.validate" -}}
{{- if not .Values.database.secret.name -}}
{{- fail "database.secret.name is required: the replicas share one PostgreSQL database (SQLite is for a single node; see docs/deployment.md)" -}}
{{- end -}}
{{- if not .Values.signingKeys.secret.name -}}
{{- fail "signingKeys.secret.name is required: every replica must sign with the same keys" -}}
{{- end -}}
{{- if not .Values.adminKey.secret.name -}}
{{- fail "adminKey.secret.name is required: a generated superadmin key would be shown in one pod's log only" -}}
{{- end -}}
{{- if and .Values.tls.enabled (not .Values.tls.secretName) -}}
{{- fail "tls.secretName is required when tls.enabled" -}}
{{- end -}}
{{- if lt (int .Values.replicaCount) 2 -}}
{{- fail "replicaCount must be at least 2 (one replica is the single-node setup: docker run or lictor serve)" -}}
{{- end -}}
{{- end -}}
