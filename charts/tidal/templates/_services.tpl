{{/*
The container of a tidal service, shared by both modes. Pass a dict with root, name (the App
name), svc (its values) and args (the `tidal run` arguments).
*/}}
{{- define "tidal.serviceContainer" -}}
{{- $root := .root }}
- name: app
  image: {{ include "tidal.image" (dict "root" $root "image" (.svc.image | default dict) "name" (printf "tidal-%s" .name)) }}
  imagePullPolicy: {{ $root.Values.image.pullPolicy }}
  args:
    {{- toYaml .args | nindent 4 }}
  env:
    - name: TIDAL_SERVICE
      value: {{ .name | quote }}
    {{- with include "tidal.tracingEnv" $root }}
    {{- . | nindent 4 }}
    {{- end }}
    {{- with $root.Values.env }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    {{- with .svc.env }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    {{- with .extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    {{- if (.svc.awsCredentials | default dict).secretName }}
    - name: AWS_SHARED_CREDENTIALS_FILE
      value: /var/run/secrets/tidal/aws/credentials
    {{- end }}
  resources:
    {{- toYaml (.svc.resources | default $root.Values.resources) | nindent 4 }}
  securityContext:
    {{- toYaml $root.Values.containerSecurityContext | nindent 4 }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
    {{- if (.svc.awsCredentials | default dict).secretName }}
    - name: aws-credentials
      mountPath: /var/run/secrets/tidal/aws
      readOnly: true
    {{- end }}
{{- end }}

{{/*
The volumes of a service pod: /tmp, and the AWS shared-credentials file when
services.<name>.awsCredentials.secretName names a Secret (a file, not env: boto3 reads it
through AWS_SHARED_CREDENTIALS_FILE). Pass a dict with svc (the service's values).
*/}}
{{- define "tidal.serviceVolumes" -}}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: 64Mi
  {{- with (.svc.awsCredentials | default dict) }}
  {{- if .secretName }}
  - name: aws-credentials
    secret:
      secretName: {{ .secretName }}
      defaultMode: 0440
      items:
        - key: {{ .secretKey | default "credentials" }}
          path: credentials
  {{- end }}
  {{- end }}
{{- end }}

{{/*
The pod-level settings of a service pod (both modes).
*/}}
{{- define "tidal.servicePod" -}}
serviceAccountName: {{ include "tidal.fullname" . }}-services
automountServiceAccountToken: false
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end }}

{{/*
A service's subscriptions, or a clear error naming how to generate them.
*/}}
{{- define "tidal.subscriptions" -}}
{{- if not .svc.subscriptions }}
{{- fail (printf "services.%s has no subscriptions: generate them with `tidal manifests %s --values`" .name (.svc.app | default "module:app")) }}
{{- end }}
{{- toYaml .svc.subscriptions }}
{{- end }}

{{/*
"true" when the release runs any service pod (an enabled service or the gateway), else empty.
*/}}
{{- define "tidal.anyService" -}}
{{- $on := .Values.gateway.enabled }}
{{- range $_, $svc := .Values.services }}
{{- if $svc.enabled }}{{ $on = true }}{{ end }}
{{- end }}
{{- if $on }}true{{ end }}
{{- end }}

{{/*
"true" when any App service (not the gateway) is enabled, else empty.
*/}}
{{- define "tidal.anyApp" -}}
{{- range $_, $svc := .Values.services }}
{{- if $svc.enabled }}true{{ break }}{{ end }}
{{- end }}
{{- end }}
