{{- define "graceful.name" -}}graceful{{- end -}}

{{- define "graceful.fullname" -}}
{{- if contains "graceful" .Release.Name -}}{{ .Release.Name | trunc 50 | trimSuffix "-" }}{{- else -}}{{ printf "%s-graceful" .Release.Name | trunc 50 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "graceful.webhookName" -}}{{ include "graceful.fullname" . }}-webhook{{- end -}}

{{- define "graceful.labels" -}}
app.kubernetes.io/name: {{ include "graceful.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "graceful.selectorLabels" -}}
app.kubernetes.io/name: {{ include "graceful.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end -}}

{{- define "graceful.image" -}}
{{- if .Values.image.digest -}}{{ .Values.image.repository }}@{{ .Values.image.digest }}{{- else -}}{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}{{- end -}}
{{- end -}}

{{- define "graceful.failurePolicy" -}}
{{- if .Values.policy.enforce -}}Fail{{- else -}}{{ .Values.webhook.failurePolicy }}{{- end -}}
{{- end -}}

{{- define "graceful.excludedNamespaces" -}}
{{- $ns := concat .Values.webhook.systemNamespaces (list .Release.Namespace) | uniq -}}
{{- toJson $ns -}}
{{- end -}}
