/* eslint-disable */
import * as types from './graphql.js';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  query Aggregates($input: AggregateQueryInput!) {\n    metricAggregates(input: $input) {\n      granularity\n      nextCursor\n      series { metric type unit tags buckets { start end count sum min max avg last rate p50 p90 p95 p99 } }\n      metadata { source fromCache executionTimeMs }\n    }\n  }\n": typeof types.AggregatesDocument,
    "\n  query AggregateStats($input: AggregateQueryInput!) {\n    metricAggregates(input: $input) {\n      nextCursor\n      series { metric tags buckets { start count sum last rate } }\n      metadata { source fromCache }\n    }\n  }\n": typeof types.AggregateStatsDocument,
    "\n  query LatestValue($metric: String!, $tags: Tags) {\n    latestValue(metric: $metric, tags: $tags) { value timestamp type }\n  }\n": typeof types.LatestValueDocument,
    "\n  query TagsOfMetric($metric: String!) {\n    tagKeys(metric: $metric)\n    routes: tagValues(metric: $metric, key: \"route\")\n    regions: tagValues(metric: $metric, key: \"region\", prefix: \"u\")\n    latestValue(metric: $metric) { value }\n  }\n": typeof types.TagsOfMetricDocument,
    "\n  mutation CreateAlertRule($input: CreateAlertRuleInput!) {\n    createAlertRule(input: $input) { webhookSecret rule { id name kind metric aggregation comparison threshold windowSeconds forSeconds cooldownSeconds severity labels webhookUrl paused state } }\n  }\n": typeof types.CreateAlertRuleDocument,
    "\n  mutation UpdateAlertRule($input: UpdateAlertRuleInput!) { updateAlertRule(input: $input) { id name threshold severity webhookUrl } }\n": typeof types.UpdateAlertRuleDocument,
    "mutation PauseAlertRule($id: ID!) { pauseAlertRule(id: $id) { id paused } }": typeof types.PauseAlertRuleDocument,
    "mutation ResumeAlertRule($id: ID!) { resumeAlertRule(id: $id) { id paused } }": typeof types.ResumeAlertRuleDocument,
    "mutation DeleteAlertRule($id: ID!) { deleteAlertRule(id: $id) }": typeof types.DeleteAlertRuleDocument,
    "query AlertRules { alertRules { id name state lastValue paused } }": typeof types.AlertRulesDocument,
    "\n  query AlertEventsHistory($ruleId: ID) { alertEvents(ruleId: $ruleId) { id ruleId ruleName severity labels at from to value threshold } }\n": typeof types.AlertEventsHistoryDocument,
    "\n  query WebhookDeliveries($ruleId: ID!) { webhookDeliveries(ruleId: $ruleId) { status url attempts { attempt statusCode error } deliveredAt } }\n": typeof types.WebhookDeliveriesDocument,
    "\n  query AlertAudit { auditLog(filter: { actions: [ALERT_RULE_CREATED, ALERT_RULE_UPDATED, ALERT_RULE_PAUSED, ALERT_RULE_RESUMED, ALERT_RULE_DELETED] }) { entries { action target } } }\n": typeof types.AlertAuditDocument,
    "\n  subscription AlertEventsLive { alertEvents { ruleName severity from to value threshold } }\n": typeof types.AlertEventsLiveDocument,
    "\n  query MetricAnomalies($input: AnomalyQueryInput!) {\n    metricAnomalies(input: $input) {\n      threshold\n      source\n      series { metric tags state points { start end value expected lower upper score anomaly } }\n    }\n  }\n": typeof types.MetricAnomaliesDocument,
    "\n  mutation CreateAnomalyRule($input: CreateAlertRuleInput!) {\n    createAlertRule(input: $input) { webhookSecret rule { id kind sensitivity historyWeeks minHistoryDays state } }\n  }\n": typeof types.CreateAnomalyRuleDocument,
    "query AnomalyRuleStates { alertRules { id state lastValue } }": typeof types.AnomalyRuleStatesDocument,
    "query AnomalyEvents($ruleId: ID) { alertEvents(ruleId: $ruleId) { from to value threshold } }": typeof types.AnomalyEventsDocument,
    "query AnomalyDeliveries($ruleId: ID!) { webhookDeliveries(ruleId: $ruleId) { status attempts { statusCode } } }": typeof types.AnomalyDeliveriesDocument,
    "\n  query AuditedAggregates($input: AggregateQueryInput!) {\n    metricAggregates(input: $input) { series { buckets { count } } }\n  }\n": typeof types.AuditedAggregatesDocument,
    "\n  mutation SetTenantLimits($input: SetTenantLimitsInput!) { setTenantLimits(input: $input) { maxSeries maxSeriesPerMetric maxTagValues } }\n": typeof types.SetTenantLimitsDocument,
    "\n  mutation RecordWithMessages($metrics: [MetricInput!]!) { recordMetrics(input: { metrics: $metrics }) { accepted failed { index code message } } }\n": typeof types.RecordWithMessagesDocument,
    "\n  query Usage { usage { series budgets { maxSeries maxSeriesPerMetric maxTagValues } metrics { metric series } topTagKeys { metric key values } } }\n": typeof types.UsageDocument,
    "\n  query DefinitionAggregates($input: AggregateQueryInput!) {\n    metricAggregates(input: $input) {\n      series { metric type unit tags definition { name version } buckets { start count value avg last rate } }\n      metadata { source fromCache }\n    }\n  }\n": typeof types.DefinitionAggregatesDocument,
    "\n  query PreviewDefinition($input: PreviewMetricDefinitionInput!) {\n    previewMetricDefinition(input: $input) {\n      granularity\n      metrics\n      sources\n      cost { series buckets cells limit }\n      series { tags buckets { start end count value } }\n    }\n  }\n": typeof types.PreviewDefinitionDocument,
    "\n  query DefinitionByName($name: String!, $version: Int) {\n    metricDefinition(name: $name, version: $version) {\n      id name version latestVersion formula unit visibility createdBy\n      versions { version formula }\n    }\n  }\n": typeof types.DefinitionByNameDocument,
    "\n  query DefinitionList($prefix: String) {\n    metricDefinitions(prefix: $prefix) { name version visibility }\n  }\n": typeof types.DefinitionListDocument,
    "\n  query DefinitionListWithVersions {\n    metricDefinitions { name latestVersion versions { version unit } }\n  }\n": typeof types.DefinitionListWithVersionsDocument,
    "\n  query DefinitionLatest($metric: String!, $tags: Tags) {\n    latestValue(metric: $metric, tags: $tags) { metric type unit value timestamp }\n  }\n": typeof types.DefinitionLatestDocument,
    "\n  query DefinitionTags($metric: String!) {\n    tagKeys(metric: $metric)\n    tagValues(metric: $metric, key: \"route\")\n  }\n": typeof types.DefinitionTagsDocument,
    "\n  mutation RecordDiskUsed($t: DateTime!, $v: Float!) {\n    recordMetric(input: { name: \"disk.used\", type: GAUGE, value: $v, timestamp: $t }) { id }\n  }\n": typeof types.RecordDiskUsedDocument,
    "\n  query DiskUsedHourly {\n    metricAggregates(input: { metrics: [\"disk.used\"], from: \"2026-11-20T00:00:00Z\", to: \"2026-11-20T02:00:00Z\", granularity: HOUR }) {\n      series { buckets { start count sum last } }\n      metadata { source }\n    }\n  }\n": typeof types.DiskUsedHourlyDocument,
    "\n  query ExportLink($input: AggregateQueryInput!, $format: ExportFormat, $locale: ExportLocale) {\n    exportUrl(input: $input, format: $format, locale: $locale) { url expiresAt }\n  }\n": typeof types.ExportLinkDocument,
    "\n  query ExportAudit { auditLog(filter: { actions: [METRICS_EXPORTED, EXPORT_URL_CREATED] }) { entries { action details } } }\n": typeof types.ExportAuditDocument,
    "\n  query IsolationEveryQuery {\n    tenant { id name }\n    apiKeys { id }\n    metrics { name type }\n    metricPoints(input: { metric: \"secret.metric\" }) { points { id value tags } nextCursor }\n    tagged: metricPoints(input: { metric: \"secret.metric\", tags: { customer: \"acme\" } }) { points { id } }\n  }\n": typeof types.IsolationEveryQueryDocument,
    "\n    query IsolationAggregates($metric: String!) {\n      metricAggregates(input: { metrics: [$metric], from: \"2026-01-01T00:00:00Z\", to: \"2026-01-01T01:00:00Z\", granularity: MINUTE }) {\n        series { metric tags buckets { count sum } }\n      }\n    }\n  ": typeof types.IsolationAggregatesDocument,
    "\n    query IsolationLatestValue($metric: String!) {\n      latestValue(metric: $metric) { value timestamp }\n    }\n  ": typeof types.IsolationLatestValueDocument,
    "\n    query IsolationTagKeys($metric: String!) {\n      tagKeys(metric: $metric)\n    }\n  ": typeof types.IsolationTagKeysDocument,
    "\n    query IsolationTagValues($metric: String!) {\n      tagValues(metric: $metric, key: \"customer\")\n    }\n  ": typeof types.IsolationTagValuesDocument,
    "\n  query IsolationConcurrentRead {\n    tenant { id }\n    metrics { name }\n    metricPoints(input: { metric: \"concurrent\", limit: 1000 }) { points { value tags } }\n  }\n": typeof types.IsolationConcurrentReadDocument,
    "\n  mutation CreateTenant($input: CreateTenantInput!) {\n    createTenant(input: $input) {\n      tenant { id name }\n      adminKey { key apiKey { id role } }\n    }\n  }\n": typeof types.CreateTenantDocument,
    "\n  mutation CreateApiKey($input: CreateApiKeyInput!) {\n    createApiKey(input: $input) { key apiKey { id name role prefix revokedAt } }\n  }\n": typeof types.CreateApiKeyDocument,
    "\n  mutation RevokeApiKey($id: ID!) {\n    revokeApiKey(input: { id: $id }) { id revokedAt }\n  }\n": typeof types.RevokeApiKeyDocument,
    "\n  query Tenant {\n    tenant { id name }\n  }\n": typeof types.TenantDocument,
    "\n  query ApiKeys {\n    apiKeys { id name role prefix revokedAt }\n  }\n": typeof types.ApiKeysDocument,
    "\n  mutation RecordMetric($input: MetricInput!) {\n    recordMetric(input: $input) {\n      id\n      duplicate\n      point { id metric type unit tags timestamp value }\n    }\n  }\n": typeof types.RecordMetricDocument,
    "\n  mutation RecordMetrics($metrics: [MetricInput!]!) {\n    recordMetrics(input: { metrics: $metrics }) {\n      accepted\n      duplicates\n      ids\n      failed { index id code }\n    }\n  }\n": typeof types.RecordMetricsDocument,
    "\n  query MetricPoints($input: MetricPointsInput!) {\n    metricPoints(input: $input) {\n      points { id metric type unit tags timestamp value }\n      nextCursor\n    }\n  }\n": typeof types.MetricPointsDocument,
    "\n  query Metrics($prefix: String) {\n    metrics(prefix: $prefix) { name type unit seriesCount }\n  }\n": typeof types.MetricsDocument,
    "\n  mutation CreateMetricDefinition($input: CreateMetricDefinitionInput!) {\n    createMetricDefinition(input: $input) {\n      definition { id name version latestVersion formula description unit visibility createdBy metrics groupBy filters { key equals notEquals in notIn exists } }\n    }\n  }\n": typeof types.CreateMetricDefinitionDocument,
    "\n  mutation UpdateMetricDefinition($input: UpdateMetricDefinitionInput!) {\n    updateMetricDefinition(input: $input) {\n      definition { id name version latestVersion formula description unit visibility metrics groupBy }\n    }\n  }\n": typeof types.UpdateMetricDefinitionDocument,
    "\n  mutation DeleteMetricDefinition($id: ID!) {\n    deleteMetricDefinition(input: { id: $id }) { id name }\n  }\n": typeof types.DeleteMetricDefinitionDocument,
    "\n  query AuditLog($filter: AuditLogFilter, $cursor: String, $limit: Int) {\n    auditLog(filter: $filter, cursor: $cursor, limit: $limit) {\n      entries {\n        id\n        at\n        action\n        target\n        details\n        requestId\n        sourceIp\n        userAgent\n        actor { kind keyId subject role }\n      }\n      nextCursor\n    }\n  }\n": typeof types.AuditLogDocument,
    "\n  subscription MetricRecorded($filter: MetricRecordedFilter!) {\n    metricRecorded(filter: $filter) { dropped point { id metric type unit tags timestamp value } }\n  }\n": typeof types.MetricRecordedDocument,
    "\n  subscription LiveAggregates($input: AggregateQueryInput!) {\n    liveAggregates(input: $input) {\n      initial granularity\n      series { metric tags buckets { start count sum min max avg last } }\n      metadata { fromCache source }\n    }\n  }\n": typeof types.LiveAggregatesDocument,
    "\n  subscription LiveDefinition($input: AggregateQueryInput!) {\n    liveAggregates(input: $input) { initial series { metric buckets { start value } } }\n  }\n": typeof types.LiveDefinitionDocument,
    "\n  query LiveAggregatesAsQuery($input: AggregateQueryInput!) {\n    metricAggregates(input: $input) { series { metric tags buckets { start count sum min max avg last } } }\n  }\n": typeof types.LiveAggregatesAsQueryDocument,
    "\n  query Report($input: MetricReportInput!) {\n    metricReport(input: $input) {\n      metric type unit period timeZone sources\n      definition { name version }\n      groups { tags rows { start end count sum avg min max p95 value growth } }\n    }\n  }\n": typeof types.ReportDocument,
    "\n  mutation Backfill($input: BackfillReportRollupsInput!) {\n    backfillReportRollups(input: $input) { job status rows rangeFrom rangeTo tenantScoped error }\n  }\n": typeof types.BackfillDocument,
    "\n  query JobRuns($job: String) {\n    jobRuns(job: $job) { job tick status rows tenantScoped rangeFrom rangeTo durationMs error finishedAt }\n  }\n": typeof types.JobRunsDocument,
    "\n  mutation SetRetention($input: SetRetentionInput!) {\n    setRetention(input: $input) { rawDays minuteDays fiveMinuteDays hourDays dayDays defaults compressAfterHours }\n  }\n": typeof types.SetRetentionDocument,
    "\n  query Retention {\n    retention { rawDays minuteDays fiveMinuteDays hourDays dayDays defaults }\n  }\n": typeof types.RetentionDocument,
    "\n  mutation PurgeMetrics($input: PurgeMetricsInput!, $confirm: Boolean!) {\n    purgeMetrics(input: $input, confirm: $confirm) { deleted metrics olderThan }\n  }\n": typeof types.PurgeMetricsDocument,
    "\n  query StorageStats {\n    storageStats {\n      raw { rows bytes compressedRows compressedBytes uncompressedBytes compressionRatio }\n      aggregates { level rows bytes }\n      totalBytes\n    }\n  }\n": typeof types.StorageStatsDocument,
    "\n  query Downsampled($input: AggregateQueryInput!) {\n    metricAggregates(input: $input) {\n      series { metric tags buckets { start count sum min max last p50 } }\n      metadata { source sources downsampled }\n    }\n  }\n": typeof types.DownsampledDocument,
    "\n  mutation RecordHugeLiteral {\n    recordMetric(input: { name: \"bad.case\", value: 1e400, type: GAUGE }) { id }\n  }\n": typeof types.RecordHugeLiteralDocument,
};
const documents: Documents = {
    "\n  query Aggregates($input: AggregateQueryInput!) {\n    metricAggregates(input: $input) {\n      granularity\n      nextCursor\n      series { metric type unit tags buckets { start end count sum min max avg last rate p50 p90 p95 p99 } }\n      metadata { source fromCache executionTimeMs }\n    }\n  }\n": types.AggregatesDocument,
    "\n  query AggregateStats($input: AggregateQueryInput!) {\n    metricAggregates(input: $input) {\n      nextCursor\n      series { metric tags buckets { start count sum last rate } }\n      metadata { source fromCache }\n    }\n  }\n": types.AggregateStatsDocument,
    "\n  query LatestValue($metric: String!, $tags: Tags) {\n    latestValue(metric: $metric, tags: $tags) { value timestamp type }\n  }\n": types.LatestValueDocument,
    "\n  query TagsOfMetric($metric: String!) {\n    tagKeys(metric: $metric)\n    routes: tagValues(metric: $metric, key: \"route\")\n    regions: tagValues(metric: $metric, key: \"region\", prefix: \"u\")\n    latestValue(metric: $metric) { value }\n  }\n": types.TagsOfMetricDocument,
    "\n  mutation CreateAlertRule($input: CreateAlertRuleInput!) {\n    createAlertRule(input: $input) { webhookSecret rule { id name kind metric aggregation comparison threshold windowSeconds forSeconds cooldownSeconds severity labels webhookUrl paused state } }\n  }\n": types.CreateAlertRuleDocument,
    "\n  mutation UpdateAlertRule($input: UpdateAlertRuleInput!) { updateAlertRule(input: $input) { id name threshold severity webhookUrl } }\n": types.UpdateAlertRuleDocument,
    "mutation PauseAlertRule($id: ID!) { pauseAlertRule(id: $id) { id paused } }": types.PauseAlertRuleDocument,
    "mutation ResumeAlertRule($id: ID!) { resumeAlertRule(id: $id) { id paused } }": types.ResumeAlertRuleDocument,
    "mutation DeleteAlertRule($id: ID!) { deleteAlertRule(id: $id) }": types.DeleteAlertRuleDocument,
    "query AlertRules { alertRules { id name state lastValue paused } }": types.AlertRulesDocument,
    "\n  query AlertEventsHistory($ruleId: ID) { alertEvents(ruleId: $ruleId) { id ruleId ruleName severity labels at from to value threshold } }\n": types.AlertEventsHistoryDocument,
    "\n  query WebhookDeliveries($ruleId: ID!) { webhookDeliveries(ruleId: $ruleId) { status url attempts { attempt statusCode error } deliveredAt } }\n": types.WebhookDeliveriesDocument,
    "\n  query AlertAudit { auditLog(filter: { actions: [ALERT_RULE_CREATED, ALERT_RULE_UPDATED, ALERT_RULE_PAUSED, ALERT_RULE_RESUMED, ALERT_RULE_DELETED] }) { entries { action target } } }\n": types.AlertAuditDocument,
    "\n  subscription AlertEventsLive { alertEvents { ruleName severity from to value threshold } }\n": types.AlertEventsLiveDocument,
    "\n  query MetricAnomalies($input: AnomalyQueryInput!) {\n    metricAnomalies(input: $input) {\n      threshold\n      source\n      series { metric tags state points { start end value expected lower upper score anomaly } }\n    }\n  }\n": types.MetricAnomaliesDocument,
    "\n  mutation CreateAnomalyRule($input: CreateAlertRuleInput!) {\n    createAlertRule(input: $input) { webhookSecret rule { id kind sensitivity historyWeeks minHistoryDays state } }\n  }\n": types.CreateAnomalyRuleDocument,
    "query AnomalyRuleStates { alertRules { id state lastValue } }": types.AnomalyRuleStatesDocument,
    "query AnomalyEvents($ruleId: ID) { alertEvents(ruleId: $ruleId) { from to value threshold } }": types.AnomalyEventsDocument,
    "query AnomalyDeliveries($ruleId: ID!) { webhookDeliveries(ruleId: $ruleId) { status attempts { statusCode } } }": types.AnomalyDeliveriesDocument,
    "\n  query AuditedAggregates($input: AggregateQueryInput!) {\n    metricAggregates(input: $input) { series { buckets { count } } }\n  }\n": types.AuditedAggregatesDocument,
    "\n  mutation SetTenantLimits($input: SetTenantLimitsInput!) { setTenantLimits(input: $input) { maxSeries maxSeriesPerMetric maxTagValues } }\n": types.SetTenantLimitsDocument,
    "\n  mutation RecordWithMessages($metrics: [MetricInput!]!) { recordMetrics(input: { metrics: $metrics }) { accepted failed { index code message } } }\n": types.RecordWithMessagesDocument,
    "\n  query Usage { usage { series budgets { maxSeries maxSeriesPerMetric maxTagValues } metrics { metric series } topTagKeys { metric key values } } }\n": types.UsageDocument,
    "\n  query DefinitionAggregates($input: AggregateQueryInput!) {\n    metricAggregates(input: $input) {\n      series { metric type unit tags definition { name version } buckets { start count value avg last rate } }\n      metadata { source fromCache }\n    }\n  }\n": types.DefinitionAggregatesDocument,
    "\n  query PreviewDefinition($input: PreviewMetricDefinitionInput!) {\n    previewMetricDefinition(input: $input) {\n      granularity\n      metrics\n      sources\n      cost { series buckets cells limit }\n      series { tags buckets { start end count value } }\n    }\n  }\n": types.PreviewDefinitionDocument,
    "\n  query DefinitionByName($name: String!, $version: Int) {\n    metricDefinition(name: $name, version: $version) {\n      id name version latestVersion formula unit visibility createdBy\n      versions { version formula }\n    }\n  }\n": types.DefinitionByNameDocument,
    "\n  query DefinitionList($prefix: String) {\n    metricDefinitions(prefix: $prefix) { name version visibility }\n  }\n": types.DefinitionListDocument,
    "\n  query DefinitionListWithVersions {\n    metricDefinitions { name latestVersion versions { version unit } }\n  }\n": types.DefinitionListWithVersionsDocument,
    "\n  query DefinitionLatest($metric: String!, $tags: Tags) {\n    latestValue(metric: $metric, tags: $tags) { metric type unit value timestamp }\n  }\n": types.DefinitionLatestDocument,
    "\n  query DefinitionTags($metric: String!) {\n    tagKeys(metric: $metric)\n    tagValues(metric: $metric, key: \"route\")\n  }\n": types.DefinitionTagsDocument,
    "\n  mutation RecordDiskUsed($t: DateTime!, $v: Float!) {\n    recordMetric(input: { name: \"disk.used\", type: GAUGE, value: $v, timestamp: $t }) { id }\n  }\n": types.RecordDiskUsedDocument,
    "\n  query DiskUsedHourly {\n    metricAggregates(input: { metrics: [\"disk.used\"], from: \"2026-11-20T00:00:00Z\", to: \"2026-11-20T02:00:00Z\", granularity: HOUR }) {\n      series { buckets { start count sum last } }\n      metadata { source }\n    }\n  }\n": types.DiskUsedHourlyDocument,
    "\n  query ExportLink($input: AggregateQueryInput!, $format: ExportFormat, $locale: ExportLocale) {\n    exportUrl(input: $input, format: $format, locale: $locale) { url expiresAt }\n  }\n": types.ExportLinkDocument,
    "\n  query ExportAudit { auditLog(filter: { actions: [METRICS_EXPORTED, EXPORT_URL_CREATED] }) { entries { action details } } }\n": types.ExportAuditDocument,
    "\n  query IsolationEveryQuery {\n    tenant { id name }\n    apiKeys { id }\n    metrics { name type }\n    metricPoints(input: { metric: \"secret.metric\" }) { points { id value tags } nextCursor }\n    tagged: metricPoints(input: { metric: \"secret.metric\", tags: { customer: \"acme\" } }) { points { id } }\n  }\n": types.IsolationEveryQueryDocument,
    "\n    query IsolationAggregates($metric: String!) {\n      metricAggregates(input: { metrics: [$metric], from: \"2026-01-01T00:00:00Z\", to: \"2026-01-01T01:00:00Z\", granularity: MINUTE }) {\n        series { metric tags buckets { count sum } }\n      }\n    }\n  ": types.IsolationAggregatesDocument,
    "\n    query IsolationLatestValue($metric: String!) {\n      latestValue(metric: $metric) { value timestamp }\n    }\n  ": types.IsolationLatestValueDocument,
    "\n    query IsolationTagKeys($metric: String!) {\n      tagKeys(metric: $metric)\n    }\n  ": types.IsolationTagKeysDocument,
    "\n    query IsolationTagValues($metric: String!) {\n      tagValues(metric: $metric, key: \"customer\")\n    }\n  ": types.IsolationTagValuesDocument,
    "\n  query IsolationConcurrentRead {\n    tenant { id }\n    metrics { name }\n    metricPoints(input: { metric: \"concurrent\", limit: 1000 }) { points { value tags } }\n  }\n": types.IsolationConcurrentReadDocument,
    "\n  mutation CreateTenant($input: CreateTenantInput!) {\n    createTenant(input: $input) {\n      tenant { id name }\n      adminKey { key apiKey { id role } }\n    }\n  }\n": types.CreateTenantDocument,
    "\n  mutation CreateApiKey($input: CreateApiKeyInput!) {\n    createApiKey(input: $input) { key apiKey { id name role prefix revokedAt } }\n  }\n": types.CreateApiKeyDocument,
    "\n  mutation RevokeApiKey($id: ID!) {\n    revokeApiKey(input: { id: $id }) { id revokedAt }\n  }\n": types.RevokeApiKeyDocument,
    "\n  query Tenant {\n    tenant { id name }\n  }\n": types.TenantDocument,
    "\n  query ApiKeys {\n    apiKeys { id name role prefix revokedAt }\n  }\n": types.ApiKeysDocument,
    "\n  mutation RecordMetric($input: MetricInput!) {\n    recordMetric(input: $input) {\n      id\n      duplicate\n      point { id metric type unit tags timestamp value }\n    }\n  }\n": types.RecordMetricDocument,
    "\n  mutation RecordMetrics($metrics: [MetricInput!]!) {\n    recordMetrics(input: { metrics: $metrics }) {\n      accepted\n      duplicates\n      ids\n      failed { index id code }\n    }\n  }\n": types.RecordMetricsDocument,
    "\n  query MetricPoints($input: MetricPointsInput!) {\n    metricPoints(input: $input) {\n      points { id metric type unit tags timestamp value }\n      nextCursor\n    }\n  }\n": types.MetricPointsDocument,
    "\n  query Metrics($prefix: String) {\n    metrics(prefix: $prefix) { name type unit seriesCount }\n  }\n": types.MetricsDocument,
    "\n  mutation CreateMetricDefinition($input: CreateMetricDefinitionInput!) {\n    createMetricDefinition(input: $input) {\n      definition { id name version latestVersion formula description unit visibility createdBy metrics groupBy filters { key equals notEquals in notIn exists } }\n    }\n  }\n": types.CreateMetricDefinitionDocument,
    "\n  mutation UpdateMetricDefinition($input: UpdateMetricDefinitionInput!) {\n    updateMetricDefinition(input: $input) {\n      definition { id name version latestVersion formula description unit visibility metrics groupBy }\n    }\n  }\n": types.UpdateMetricDefinitionDocument,
    "\n  mutation DeleteMetricDefinition($id: ID!) {\n    deleteMetricDefinition(input: { id: $id }) { id name }\n  }\n": types.DeleteMetricDefinitionDocument,
    "\n  query AuditLog($filter: AuditLogFilter, $cursor: String, $limit: Int) {\n    auditLog(filter: $filter, cursor: $cursor, limit: $limit) {\n      entries {\n        id\n        at\n        action\n        target\n        details\n        requestId\n        sourceIp\n        userAgent\n        actor { kind keyId subject role }\n      }\n      nextCursor\n    }\n  }\n": types.AuditLogDocument,
    "\n  subscription MetricRecorded($filter: MetricRecordedFilter!) {\n    metricRecorded(filter: $filter) { dropped point { id metric type unit tags timestamp value } }\n  }\n": types.MetricRecordedDocument,
    "\n  subscription LiveAggregates($input: AggregateQueryInput!) {\n    liveAggregates(input: $input) {\n      initial granularity\n      series { metric tags buckets { start count sum min max avg last } }\n      metadata { fromCache source }\n    }\n  }\n": types.LiveAggregatesDocument,
    "\n  subscription LiveDefinition($input: AggregateQueryInput!) {\n    liveAggregates(input: $input) { initial series { metric buckets { start value } } }\n  }\n": types.LiveDefinitionDocument,
    "\n  query LiveAggregatesAsQuery($input: AggregateQueryInput!) {\n    metricAggregates(input: $input) { series { metric tags buckets { start count sum min max avg last } } }\n  }\n": types.LiveAggregatesAsQueryDocument,
    "\n  query Report($input: MetricReportInput!) {\n    metricReport(input: $input) {\n      metric type unit period timeZone sources\n      definition { name version }\n      groups { tags rows { start end count sum avg min max p95 value growth } }\n    }\n  }\n": types.ReportDocument,
    "\n  mutation Backfill($input: BackfillReportRollupsInput!) {\n    backfillReportRollups(input: $input) { job status rows rangeFrom rangeTo tenantScoped error }\n  }\n": types.BackfillDocument,
    "\n  query JobRuns($job: String) {\n    jobRuns(job: $job) { job tick status rows tenantScoped rangeFrom rangeTo durationMs error finishedAt }\n  }\n": types.JobRunsDocument,
    "\n  mutation SetRetention($input: SetRetentionInput!) {\n    setRetention(input: $input) { rawDays minuteDays fiveMinuteDays hourDays dayDays defaults compressAfterHours }\n  }\n": types.SetRetentionDocument,
    "\n  query Retention {\n    retention { rawDays minuteDays fiveMinuteDays hourDays dayDays defaults }\n  }\n": types.RetentionDocument,
    "\n  mutation PurgeMetrics($input: PurgeMetricsInput!, $confirm: Boolean!) {\n    purgeMetrics(input: $input, confirm: $confirm) { deleted metrics olderThan }\n  }\n": types.PurgeMetricsDocument,
    "\n  query StorageStats {\n    storageStats {\n      raw { rows bytes compressedRows compressedBytes uncompressedBytes compressionRatio }\n      aggregates { level rows bytes }\n      totalBytes\n    }\n  }\n": types.StorageStatsDocument,
    "\n  query Downsampled($input: AggregateQueryInput!) {\n    metricAggregates(input: $input) {\n      series { metric tags buckets { start count sum min max last p50 } }\n      metadata { source sources downsampled }\n    }\n  }\n": types.DownsampledDocument,
    "\n  mutation RecordHugeLiteral {\n    recordMetric(input: { name: \"bad.case\", value: 1e400, type: GAUGE }) { id }\n  }\n": types.RecordHugeLiteralDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Aggregates($input: AggregateQueryInput!) {\n    metricAggregates(input: $input) {\n      granularity\n      nextCursor\n      series { metric type unit tags buckets { start end count sum min max avg last rate p50 p90 p95 p99 } }\n      metadata { source fromCache executionTimeMs }\n    }\n  }\n"): (typeof documents)["\n  query Aggregates($input: AggregateQueryInput!) {\n    metricAggregates(input: $input) {\n      granularity\n      nextCursor\n      series { metric type unit tags buckets { start end count sum min max avg last rate p50 p90 p95 p99 } }\n      metadata { source fromCache executionTimeMs }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query AggregateStats($input: AggregateQueryInput!) {\n    metricAggregates(input: $input) {\n      nextCursor\n      series { metric tags buckets { start count sum last rate } }\n      metadata { source fromCache }\n    }\n  }\n"): (typeof documents)["\n  query AggregateStats($input: AggregateQueryInput!) {\n    metricAggregates(input: $input) {\n      nextCursor\n      series { metric tags buckets { start count sum last rate } }\n      metadata { source fromCache }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query LatestValue($metric: String!, $tags: Tags) {\n    latestValue(metric: $metric, tags: $tags) { value timestamp type }\n  }\n"): (typeof documents)["\n  query LatestValue($metric: String!, $tags: Tags) {\n    latestValue(metric: $metric, tags: $tags) { value timestamp type }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query TagsOfMetric($metric: String!) {\n    tagKeys(metric: $metric)\n    routes: tagValues(metric: $metric, key: \"route\")\n    regions: tagValues(metric: $metric, key: \"region\", prefix: \"u\")\n    latestValue(metric: $metric) { value }\n  }\n"): (typeof documents)["\n  query TagsOfMetric($metric: String!) {\n    tagKeys(metric: $metric)\n    routes: tagValues(metric: $metric, key: \"route\")\n    regions: tagValues(metric: $metric, key: \"region\", prefix: \"u\")\n    latestValue(metric: $metric) { value }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateAlertRule($input: CreateAlertRuleInput!) {\n    createAlertRule(input: $input) { webhookSecret rule { id name kind metric aggregation comparison threshold windowSeconds forSeconds cooldownSeconds severity labels webhookUrl paused state } }\n  }\n"): (typeof documents)["\n  mutation CreateAlertRule($input: CreateAlertRuleInput!) {\n    createAlertRule(input: $input) { webhookSecret rule { id name kind metric aggregation comparison threshold windowSeconds forSeconds cooldownSeconds severity labels webhookUrl paused state } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation UpdateAlertRule($input: UpdateAlertRuleInput!) { updateAlertRule(input: $input) { id name threshold severity webhookUrl } }\n"): (typeof documents)["\n  mutation UpdateAlertRule($input: UpdateAlertRuleInput!) { updateAlertRule(input: $input) { id name threshold severity webhookUrl } }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation PauseAlertRule($id: ID!) { pauseAlertRule(id: $id) { id paused } }"): (typeof documents)["mutation PauseAlertRule($id: ID!) { pauseAlertRule(id: $id) { id paused } }"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation ResumeAlertRule($id: ID!) { resumeAlertRule(id: $id) { id paused } }"): (typeof documents)["mutation ResumeAlertRule($id: ID!) { resumeAlertRule(id: $id) { id paused } }"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation DeleteAlertRule($id: ID!) { deleteAlertRule(id: $id) }"): (typeof documents)["mutation DeleteAlertRule($id: ID!) { deleteAlertRule(id: $id) }"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query AlertRules { alertRules { id name state lastValue paused } }"): (typeof documents)["query AlertRules { alertRules { id name state lastValue paused } }"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query AlertEventsHistory($ruleId: ID) { alertEvents(ruleId: $ruleId) { id ruleId ruleName severity labels at from to value threshold } }\n"): (typeof documents)["\n  query AlertEventsHistory($ruleId: ID) { alertEvents(ruleId: $ruleId) { id ruleId ruleName severity labels at from to value threshold } }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query WebhookDeliveries($ruleId: ID!) { webhookDeliveries(ruleId: $ruleId) { status url attempts { attempt statusCode error } deliveredAt } }\n"): (typeof documents)["\n  query WebhookDeliveries($ruleId: ID!) { webhookDeliveries(ruleId: $ruleId) { status url attempts { attempt statusCode error } deliveredAt } }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query AlertAudit { auditLog(filter: { actions: [ALERT_RULE_CREATED, ALERT_RULE_UPDATED, ALERT_RULE_PAUSED, ALERT_RULE_RESUMED, ALERT_RULE_DELETED] }) { entries { action target } } }\n"): (typeof documents)["\n  query AlertAudit { auditLog(filter: { actions: [ALERT_RULE_CREATED, ALERT_RULE_UPDATED, ALERT_RULE_PAUSED, ALERT_RULE_RESUMED, ALERT_RULE_DELETED] }) { entries { action target } } }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription AlertEventsLive { alertEvents { ruleName severity from to value threshold } }\n"): (typeof documents)["\n  subscription AlertEventsLive { alertEvents { ruleName severity from to value threshold } }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query MetricAnomalies($input: AnomalyQueryInput!) {\n    metricAnomalies(input: $input) {\n      threshold\n      source\n      series { metric tags state points { start end value expected lower upper score anomaly } }\n    }\n  }\n"): (typeof documents)["\n  query MetricAnomalies($input: AnomalyQueryInput!) {\n    metricAnomalies(input: $input) {\n      threshold\n      source\n      series { metric tags state points { start end value expected lower upper score anomaly } }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateAnomalyRule($input: CreateAlertRuleInput!) {\n    createAlertRule(input: $input) { webhookSecret rule { id kind sensitivity historyWeeks minHistoryDays state } }\n  }\n"): (typeof documents)["\n  mutation CreateAnomalyRule($input: CreateAlertRuleInput!) {\n    createAlertRule(input: $input) { webhookSecret rule { id kind sensitivity historyWeeks minHistoryDays state } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query AnomalyRuleStates { alertRules { id state lastValue } }"): (typeof documents)["query AnomalyRuleStates { alertRules { id state lastValue } }"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query AnomalyEvents($ruleId: ID) { alertEvents(ruleId: $ruleId) { from to value threshold } }"): (typeof documents)["query AnomalyEvents($ruleId: ID) { alertEvents(ruleId: $ruleId) { from to value threshold } }"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query AnomalyDeliveries($ruleId: ID!) { webhookDeliveries(ruleId: $ruleId) { status attempts { statusCode } } }"): (typeof documents)["query AnomalyDeliveries($ruleId: ID!) { webhookDeliveries(ruleId: $ruleId) { status attempts { statusCode } } }"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query AuditedAggregates($input: AggregateQueryInput!) {\n    metricAggregates(input: $input) { series { buckets { count } } }\n  }\n"): (typeof documents)["\n  query AuditedAggregates($input: AggregateQueryInput!) {\n    metricAggregates(input: $input) { series { buckets { count } } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SetTenantLimits($input: SetTenantLimitsInput!) { setTenantLimits(input: $input) { maxSeries maxSeriesPerMetric maxTagValues } }\n"): (typeof documents)["\n  mutation SetTenantLimits($input: SetTenantLimitsInput!) { setTenantLimits(input: $input) { maxSeries maxSeriesPerMetric maxTagValues } }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation RecordWithMessages($metrics: [MetricInput!]!) { recordMetrics(input: { metrics: $metrics }) { accepted failed { index code message } } }\n"): (typeof documents)["\n  mutation RecordWithMessages($metrics: [MetricInput!]!) { recordMetrics(input: { metrics: $metrics }) { accepted failed { index code message } } }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Usage { usage { series budgets { maxSeries maxSeriesPerMetric maxTagValues } metrics { metric series } topTagKeys { metric key values } } }\n"): (typeof documents)["\n  query Usage { usage { series budgets { maxSeries maxSeriesPerMetric maxTagValues } metrics { metric series } topTagKeys { metric key values } } }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query DefinitionAggregates($input: AggregateQueryInput!) {\n    metricAggregates(input: $input) {\n      series { metric type unit tags definition { name version } buckets { start count value avg last rate } }\n      metadata { source fromCache }\n    }\n  }\n"): (typeof documents)["\n  query DefinitionAggregates($input: AggregateQueryInput!) {\n    metricAggregates(input: $input) {\n      series { metric type unit tags definition { name version } buckets { start count value avg last rate } }\n      metadata { source fromCache }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query PreviewDefinition($input: PreviewMetricDefinitionInput!) {\n    previewMetricDefinition(input: $input) {\n      granularity\n      metrics\n      sources\n      cost { series buckets cells limit }\n      series { tags buckets { start end count value } }\n    }\n  }\n"): (typeof documents)["\n  query PreviewDefinition($input: PreviewMetricDefinitionInput!) {\n    previewMetricDefinition(input: $input) {\n      granularity\n      metrics\n      sources\n      cost { series buckets cells limit }\n      series { tags buckets { start end count value } }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query DefinitionByName($name: String!, $version: Int) {\n    metricDefinition(name: $name, version: $version) {\n      id name version latestVersion formula unit visibility createdBy\n      versions { version formula }\n    }\n  }\n"): (typeof documents)["\n  query DefinitionByName($name: String!, $version: Int) {\n    metricDefinition(name: $name, version: $version) {\n      id name version latestVersion formula unit visibility createdBy\n      versions { version formula }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query DefinitionList($prefix: String) {\n    metricDefinitions(prefix: $prefix) { name version visibility }\n  }\n"): (typeof documents)["\n  query DefinitionList($prefix: String) {\n    metricDefinitions(prefix: $prefix) { name version visibility }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query DefinitionListWithVersions {\n    metricDefinitions { name latestVersion versions { version unit } }\n  }\n"): (typeof documents)["\n  query DefinitionListWithVersions {\n    metricDefinitions { name latestVersion versions { version unit } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query DefinitionLatest($metric: String!, $tags: Tags) {\n    latestValue(metric: $metric, tags: $tags) { metric type unit value timestamp }\n  }\n"): (typeof documents)["\n  query DefinitionLatest($metric: String!, $tags: Tags) {\n    latestValue(metric: $metric, tags: $tags) { metric type unit value timestamp }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query DefinitionTags($metric: String!) {\n    tagKeys(metric: $metric)\n    tagValues(metric: $metric, key: \"route\")\n  }\n"): (typeof documents)["\n  query DefinitionTags($metric: String!) {\n    tagKeys(metric: $metric)\n    tagValues(metric: $metric, key: \"route\")\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation RecordDiskUsed($t: DateTime!, $v: Float!) {\n    recordMetric(input: { name: \"disk.used\", type: GAUGE, value: $v, timestamp: $t }) { id }\n  }\n"): (typeof documents)["\n  mutation RecordDiskUsed($t: DateTime!, $v: Float!) {\n    recordMetric(input: { name: \"disk.used\", type: GAUGE, value: $v, timestamp: $t }) { id }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query DiskUsedHourly {\n    metricAggregates(input: { metrics: [\"disk.used\"], from: \"2026-11-20T00:00:00Z\", to: \"2026-11-20T02:00:00Z\", granularity: HOUR }) {\n      series { buckets { start count sum last } }\n      metadata { source }\n    }\n  }\n"): (typeof documents)["\n  query DiskUsedHourly {\n    metricAggregates(input: { metrics: [\"disk.used\"], from: \"2026-11-20T00:00:00Z\", to: \"2026-11-20T02:00:00Z\", granularity: HOUR }) {\n      series { buckets { start count sum last } }\n      metadata { source }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ExportLink($input: AggregateQueryInput!, $format: ExportFormat, $locale: ExportLocale) {\n    exportUrl(input: $input, format: $format, locale: $locale) { url expiresAt }\n  }\n"): (typeof documents)["\n  query ExportLink($input: AggregateQueryInput!, $format: ExportFormat, $locale: ExportLocale) {\n    exportUrl(input: $input, format: $format, locale: $locale) { url expiresAt }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ExportAudit { auditLog(filter: { actions: [METRICS_EXPORTED, EXPORT_URL_CREATED] }) { entries { action details } } }\n"): (typeof documents)["\n  query ExportAudit { auditLog(filter: { actions: [METRICS_EXPORTED, EXPORT_URL_CREATED] }) { entries { action details } } }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query IsolationEveryQuery {\n    tenant { id name }\n    apiKeys { id }\n    metrics { name type }\n    metricPoints(input: { metric: \"secret.metric\" }) { points { id value tags } nextCursor }\n    tagged: metricPoints(input: { metric: \"secret.metric\", tags: { customer: \"acme\" } }) { points { id } }\n  }\n"): (typeof documents)["\n  query IsolationEveryQuery {\n    tenant { id name }\n    apiKeys { id }\n    metrics { name type }\n    metricPoints(input: { metric: \"secret.metric\" }) { points { id value tags } nextCursor }\n    tagged: metricPoints(input: { metric: \"secret.metric\", tags: { customer: \"acme\" } }) { points { id } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n    query IsolationAggregates($metric: String!) {\n      metricAggregates(input: { metrics: [$metric], from: \"2026-01-01T00:00:00Z\", to: \"2026-01-01T01:00:00Z\", granularity: MINUTE }) {\n        series { metric tags buckets { count sum } }\n      }\n    }\n  "): (typeof documents)["\n    query IsolationAggregates($metric: String!) {\n      metricAggregates(input: { metrics: [$metric], from: \"2026-01-01T00:00:00Z\", to: \"2026-01-01T01:00:00Z\", granularity: MINUTE }) {\n        series { metric tags buckets { count sum } }\n      }\n    }\n  "];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n    query IsolationLatestValue($metric: String!) {\n      latestValue(metric: $metric) { value timestamp }\n    }\n  "): (typeof documents)["\n    query IsolationLatestValue($metric: String!) {\n      latestValue(metric: $metric) { value timestamp }\n    }\n  "];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n    query IsolationTagKeys($metric: String!) {\n      tagKeys(metric: $metric)\n    }\n  "): (typeof documents)["\n    query IsolationTagKeys($metric: String!) {\n      tagKeys(metric: $metric)\n    }\n  "];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n    query IsolationTagValues($metric: String!) {\n      tagValues(metric: $metric, key: \"customer\")\n    }\n  "): (typeof documents)["\n    query IsolationTagValues($metric: String!) {\n      tagValues(metric: $metric, key: \"customer\")\n    }\n  "];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query IsolationConcurrentRead {\n    tenant { id }\n    metrics { name }\n    metricPoints(input: { metric: \"concurrent\", limit: 1000 }) { points { value tags } }\n  }\n"): (typeof documents)["\n  query IsolationConcurrentRead {\n    tenant { id }\n    metrics { name }\n    metricPoints(input: { metric: \"concurrent\", limit: 1000 }) { points { value tags } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateTenant($input: CreateTenantInput!) {\n    createTenant(input: $input) {\n      tenant { id name }\n      adminKey { key apiKey { id role } }\n    }\n  }\n"): (typeof documents)["\n  mutation CreateTenant($input: CreateTenantInput!) {\n    createTenant(input: $input) {\n      tenant { id name }\n      adminKey { key apiKey { id role } }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateApiKey($input: CreateApiKeyInput!) {\n    createApiKey(input: $input) { key apiKey { id name role prefix revokedAt } }\n  }\n"): (typeof documents)["\n  mutation CreateApiKey($input: CreateApiKeyInput!) {\n    createApiKey(input: $input) { key apiKey { id name role prefix revokedAt } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation RevokeApiKey($id: ID!) {\n    revokeApiKey(input: { id: $id }) { id revokedAt }\n  }\n"): (typeof documents)["\n  mutation RevokeApiKey($id: ID!) {\n    revokeApiKey(input: { id: $id }) { id revokedAt }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Tenant {\n    tenant { id name }\n  }\n"): (typeof documents)["\n  query Tenant {\n    tenant { id name }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ApiKeys {\n    apiKeys { id name role prefix revokedAt }\n  }\n"): (typeof documents)["\n  query ApiKeys {\n    apiKeys { id name role prefix revokedAt }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation RecordMetric($input: MetricInput!) {\n    recordMetric(input: $input) {\n      id\n      duplicate\n      point { id metric type unit tags timestamp value }\n    }\n  }\n"): (typeof documents)["\n  mutation RecordMetric($input: MetricInput!) {\n    recordMetric(input: $input) {\n      id\n      duplicate\n      point { id metric type unit tags timestamp value }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation RecordMetrics($metrics: [MetricInput!]!) {\n    recordMetrics(input: { metrics: $metrics }) {\n      accepted\n      duplicates\n      ids\n      failed { index id code }\n    }\n  }\n"): (typeof documents)["\n  mutation RecordMetrics($metrics: [MetricInput!]!) {\n    recordMetrics(input: { metrics: $metrics }) {\n      accepted\n      duplicates\n      ids\n      failed { index id code }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query MetricPoints($input: MetricPointsInput!) {\n    metricPoints(input: $input) {\n      points { id metric type unit tags timestamp value }\n      nextCursor\n    }\n  }\n"): (typeof documents)["\n  query MetricPoints($input: MetricPointsInput!) {\n    metricPoints(input: $input) {\n      points { id metric type unit tags timestamp value }\n      nextCursor\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Metrics($prefix: String) {\n    metrics(prefix: $prefix) { name type unit seriesCount }\n  }\n"): (typeof documents)["\n  query Metrics($prefix: String) {\n    metrics(prefix: $prefix) { name type unit seriesCount }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateMetricDefinition($input: CreateMetricDefinitionInput!) {\n    createMetricDefinition(input: $input) {\n      definition { id name version latestVersion formula description unit visibility createdBy metrics groupBy filters { key equals notEquals in notIn exists } }\n    }\n  }\n"): (typeof documents)["\n  mutation CreateMetricDefinition($input: CreateMetricDefinitionInput!) {\n    createMetricDefinition(input: $input) {\n      definition { id name version latestVersion formula description unit visibility createdBy metrics groupBy filters { key equals notEquals in notIn exists } }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation UpdateMetricDefinition($input: UpdateMetricDefinitionInput!) {\n    updateMetricDefinition(input: $input) {\n      definition { id name version latestVersion formula description unit visibility metrics groupBy }\n    }\n  }\n"): (typeof documents)["\n  mutation UpdateMetricDefinition($input: UpdateMetricDefinitionInput!) {\n    updateMetricDefinition(input: $input) {\n      definition { id name version latestVersion formula description unit visibility metrics groupBy }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DeleteMetricDefinition($id: ID!) {\n    deleteMetricDefinition(input: { id: $id }) { id name }\n  }\n"): (typeof documents)["\n  mutation DeleteMetricDefinition($id: ID!) {\n    deleteMetricDefinition(input: { id: $id }) { id name }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query AuditLog($filter: AuditLogFilter, $cursor: String, $limit: Int) {\n    auditLog(filter: $filter, cursor: $cursor, limit: $limit) {\n      entries {\n        id\n        at\n        action\n        target\n        details\n        requestId\n        sourceIp\n        userAgent\n        actor { kind keyId subject role }\n      }\n      nextCursor\n    }\n  }\n"): (typeof documents)["\n  query AuditLog($filter: AuditLogFilter, $cursor: String, $limit: Int) {\n    auditLog(filter: $filter, cursor: $cursor, limit: $limit) {\n      entries {\n        id\n        at\n        action\n        target\n        details\n        requestId\n        sourceIp\n        userAgent\n        actor { kind keyId subject role }\n      }\n      nextCursor\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription MetricRecorded($filter: MetricRecordedFilter!) {\n    metricRecorded(filter: $filter) { dropped point { id metric type unit tags timestamp value } }\n  }\n"): (typeof documents)["\n  subscription MetricRecorded($filter: MetricRecordedFilter!) {\n    metricRecorded(filter: $filter) { dropped point { id metric type unit tags timestamp value } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription LiveAggregates($input: AggregateQueryInput!) {\n    liveAggregates(input: $input) {\n      initial granularity\n      series { metric tags buckets { start count sum min max avg last } }\n      metadata { fromCache source }\n    }\n  }\n"): (typeof documents)["\n  subscription LiveAggregates($input: AggregateQueryInput!) {\n    liveAggregates(input: $input) {\n      initial granularity\n      series { metric tags buckets { start count sum min max avg last } }\n      metadata { fromCache source }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription LiveDefinition($input: AggregateQueryInput!) {\n    liveAggregates(input: $input) { initial series { metric buckets { start value } } }\n  }\n"): (typeof documents)["\n  subscription LiveDefinition($input: AggregateQueryInput!) {\n    liveAggregates(input: $input) { initial series { metric buckets { start value } } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query LiveAggregatesAsQuery($input: AggregateQueryInput!) {\n    metricAggregates(input: $input) { series { metric tags buckets { start count sum min max avg last } } }\n  }\n"): (typeof documents)["\n  query LiveAggregatesAsQuery($input: AggregateQueryInput!) {\n    metricAggregates(input: $input) { series { metric tags buckets { start count sum min max avg last } } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Report($input: MetricReportInput!) {\n    metricReport(input: $input) {\n      metric type unit period timeZone sources\n      definition { name version }\n      groups { tags rows { start end count sum avg min max p95 value growth } }\n    }\n  }\n"): (typeof documents)["\n  query Report($input: MetricReportInput!) {\n    metricReport(input: $input) {\n      metric type unit period timeZone sources\n      definition { name version }\n      groups { tags rows { start end count sum avg min max p95 value growth } }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation Backfill($input: BackfillReportRollupsInput!) {\n    backfillReportRollups(input: $input) { job status rows rangeFrom rangeTo tenantScoped error }\n  }\n"): (typeof documents)["\n  mutation Backfill($input: BackfillReportRollupsInput!) {\n    backfillReportRollups(input: $input) { job status rows rangeFrom rangeTo tenantScoped error }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query JobRuns($job: String) {\n    jobRuns(job: $job) { job tick status rows tenantScoped rangeFrom rangeTo durationMs error finishedAt }\n  }\n"): (typeof documents)["\n  query JobRuns($job: String) {\n    jobRuns(job: $job) { job tick status rows tenantScoped rangeFrom rangeTo durationMs error finishedAt }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SetRetention($input: SetRetentionInput!) {\n    setRetention(input: $input) { rawDays minuteDays fiveMinuteDays hourDays dayDays defaults compressAfterHours }\n  }\n"): (typeof documents)["\n  mutation SetRetention($input: SetRetentionInput!) {\n    setRetention(input: $input) { rawDays minuteDays fiveMinuteDays hourDays dayDays defaults compressAfterHours }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Retention {\n    retention { rawDays minuteDays fiveMinuteDays hourDays dayDays defaults }\n  }\n"): (typeof documents)["\n  query Retention {\n    retention { rawDays minuteDays fiveMinuteDays hourDays dayDays defaults }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation PurgeMetrics($input: PurgeMetricsInput!, $confirm: Boolean!) {\n    purgeMetrics(input: $input, confirm: $confirm) { deleted metrics olderThan }\n  }\n"): (typeof documents)["\n  mutation PurgeMetrics($input: PurgeMetricsInput!, $confirm: Boolean!) {\n    purgeMetrics(input: $input, confirm: $confirm) { deleted metrics olderThan }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query StorageStats {\n    storageStats {\n      raw { rows bytes compressedRows compressedBytes uncompressedBytes compressionRatio }\n      aggregates { level rows bytes }\n      totalBytes\n    }\n  }\n"): (typeof documents)["\n  query StorageStats {\n    storageStats {\n      raw { rows bytes compressedRows compressedBytes uncompressedBytes compressionRatio }\n      aggregates { level rows bytes }\n      totalBytes\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Downsampled($input: AggregateQueryInput!) {\n    metricAggregates(input: $input) {\n      series { metric tags buckets { start count sum min max last p50 } }\n      metadata { source sources downsampled }\n    }\n  }\n"): (typeof documents)["\n  query Downsampled($input: AggregateQueryInput!) {\n    metricAggregates(input: $input) {\n      series { metric tags buckets { start count sum min max last p50 } }\n      metadata { source sources downsampled }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation RecordHugeLiteral {\n    recordMetric(input: { name: \"bad.case\", value: 1e400, type: GAUGE }) { id }\n  }\n"): (typeof documents)["\n  mutation RecordHugeLiteral {\n    recordMetric(input: { name: \"bad.case\", value: 1e400, type: GAUGE }) { id }\n  }\n"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;