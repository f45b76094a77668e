{{/*
Labels of every object: `lws manifests`' common label, then Helm's usual ones (which selectors and pod
templates do not carry, so that an upgrade of the chart alone never restarts the operator).
*/}}
{{- define "lws.labels" -}}
app.kubernetes.io/name: lws
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{/* The operator's image reference. */}}
{{- define "lws.image" -}}
{{ .Values.image.manager.repository }}:{{ .Values.image.manager.tag | default .Chart.AppVersion }}
{{- end }}

{{/* The gang scheduler in use, if any. */}}
{{- define "lws.gang" -}}
{{ (.Values.gangSchedulingManagement | default dict).schedulerProvider | default "" }}
{{- end }}

{{/* The ServiceAccount subject every binding of the operator names. */}}
{{- define "lws.subject" -}}
- kind: ServiceAccount
  name: lws-controller-manager
  namespace: {{ .Release.Namespace }}
{{- end }}
