{{- define "floe.fullname" -}}
{{- printf "%s-floe" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "floe.labels" -}}
app.kubernetes.io/name: floe
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "floe.image" -}}
{{ printf "%s:%s" .Values.image.repository .Values.image.tag }}
{{- end -}}

{{/* Settings every Floe pod shares: the lake, storage and the cluster token. */}}
{{- define "floe.env" -}}
- name: FLOE_LISTEN
  value: {{ printf "0.0.0.0:%v" .Values.flightPort | quote }}
- name: FLOE_DATA_DIR
  value: /var/lib/floe
- name: FLOE_CATALOG_NAME
  value: {{ .Values.catalog.name | quote }}
- name: FLOE_CATALOG_URI
  valueFrom:
    secretKeyRef:
      name: {{ .Values.catalog.existingSecret }}
      key: {{ .Values.catalog.uriKey }}
- name: FLOE_WAREHOUSE
  value: {{ .Values.catalog.warehouse | quote }}
- name: FLOE_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .Values.auth.existingSecret }}
      key: {{ .Values.auth.tokenKey }}
- name: FLOE_TICKET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.auth.existingSecret }}
      key: {{ .Values.auth.ticketKeyKey }}
- name: FLOE_QUERY_MEMORY_MB
  value: {{ .Values.limits.queryMemoryMb | quote }}
- name: FLOE_MAX_CONCURRENT_QUERIES
  value: {{ .Values.limits.maxConcurrentQueries | quote }}
- name: FLOE_QUERY_TIMEOUT_SECONDS
  value: {{ .Values.limits.queryTimeoutSeconds | quote }}
- name: FLOE_HTTP_LISTEN
  value: {{ printf "0.0.0.0:%v" .Values.observatoryPort | quote }}
{{- if .Values.observability.admins }}
- name: FLOE_ADMINS
  value: {{ .Values.observability.admins | quote }}
{{- end }}
- name: FLOE_LOG_FORMAT
  value: {{ .Values.observability.logFormat | quote }}
{{- if .Values.observability.otlpEndpoint }}
- name: FLOE_OTLP_ENDPOINT
  value: {{ .Values.observability.otlpEndpoint | quote }}
{{- end }}
{{- if .Values.observability.openlineage.url }}
- name: FLOE_OPENLINEAGE_URL
  value: {{ .Values.observability.openlineage.url | quote }}
- name: FLOE_OPENLINEAGE_NAMESPACE
  value: {{ .Values.observability.openlineage.namespace | quote }}
{{- if .Values.observability.openlineage.existingSecret }}
- name: FLOE_OPENLINEAGE_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.observability.openlineage.existingSecret }}
      key: {{ .Values.observability.openlineage.apiKeyKey }}
{{- end }}
{{- end }}
{{- if .Values.s3.endpoint }}
- name: FLOE_S3_ENDPOINT
  value: {{ .Values.s3.endpoint | quote }}
{{- end }}
- name: FLOE_S3_REGION
  value: {{ .Values.s3.region | quote }}
{{- if .Values.s3.pathStyle }}
- name: FLOE_S3_PATH_STYLE
  value: "true"
{{- end }}
- name: FLOE_S3_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ .Values.s3.existingSecret }}
      key: {{ .Values.s3.accessKeyIdKey }}
- name: FLOE_S3_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.s3.existingSecret }}
      key: {{ .Values.s3.secretAccessKeyKey }}
{{- if .Values.extraCatalogs }}
- name: FLOE_CONFIG
  value: /etc/floe/catalogs.toml
{{- end }}
{{- end -}}
