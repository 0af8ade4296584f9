/**
 * Every message a user can be shown, by id: the English template (the text the API has always
 * answered with, byte for byte) and the Polish one. `{name}` in a template is the param `name`.
 * Code raises a message by id (`userError(code, id, params)`, or `zodMessage(id, params)` in a
 * zod schema); src/i18n.ts renders it in the caller's language from the same id and params, so
 * no English text is ever parsed back.
 *
 * `polish` names every id: a Polish template, or `ENGLISH` where the Polish answer is the English
 * one on purpose (rare errors of operators and advanced queries: translated as users ask for them).
 */

export type Params = Readonly<Record<string, string | number>>;

export const english = {
  // Authentication and roles
  'auth.invalidKeyOrToken': 'Invalid API key or token',
  'auth.invalidKey': 'Invalid API key',
  'auth.keyRevoked': 'API key has been revoked',
  'auth.sendBearer': 'Send "Authorization: Bearer <API key or JWT>"',
  'auth.sendBearerWs':
    'Send connectionParams: { "authorization": "Bearer <API key or JWT>" } in connection_init, or an Authorization header in the subscribe message\'s extensions.headers (as GraphiQL does)',
  'auth.bearerForm': 'Authorization must be "Bearer <token>"',
  'auth.replacePlaceholder':
    'Replace <your API key> in the Authorization header (GraphiQL\'s Headers tab) with your API key: `npm start` prints one for the dev tenant the first time; `npm run key -- --tenant dev` makes another',
  'auth.tokenExpired': 'Token has expired',
  'auth.tokenMalformed': 'Malformed token',
  'auth.tokenSignature': 'Invalid token signature',
  'auth.tokenTenantMissing': 'Token names a tenant that does not exist',
  'auth.onlyHs256': 'Only HS256 tokens are accepted',
  'auth.tokenClaims': 'Token claims must include tenant_id (UUID), role and exp',
  'auth.roles': 'This needs one of the roles {roles}; your key is {role}',
  'auth.operatorOnly': 'Only the operator token can {action}',
  'auth.sendOperatorToken': 'Send the operator token as "Authorization: Bearer <token>"',
  'auth.operatorManagesTenants': 'The operator token can only manage tenants',
  'auth.connectionRevoked': 'The credentials of this connection were revoked or have expired',

  // The request as a whole
  'request.invalid': '{text}',
  'request.unstorable': 'The input holds text that cannot be stored (a NUL or unpaired surrogate character, or a value too long)',
  'request.unavailable': 'The database is unavailable; retry shortly',
  'request.internal': 'Unexpected error. (request id {requestId})',
  'request.rateLimited': 'Too many {kind} for this tenant; retry in {seconds} s.',
  'request.timeout': 'The query ran longer than {ms} ms. Narrow the range, coarsen the granularity or filter by tags.',
  'request.tooDeep': 'The document nests {depth} levels of brackets; at most {max} are accepted.',

  // Scalars
  'dateTime.epoch':
    'DateTime must be an ISO 8601 string with a time zone offset, e.g. 2024-05-01T12:00:00Z; got the number {value}. If it is {unit}, send "{iso}" (in JavaScript: new Date({value}{times}).toISOString())',
  'dateTime.notIso': 'DateTime must be an ISO 8601 string with a time zone offset, e.g. 2024-05-01T12:00:00Z; got {got}',
  'dateTime.literal': 'DateTime must be an ISO 8601 string with a time zone offset, e.g. "2024-05-01T12:00:00Z"',
  'dateTime.notReal': 'DateTime {value} is not a real date',
  'dateTime.beforeYear1': 'DateTime {value} is before year 0001',
  'tags.notFlat': 'Tags must be a flat object of string values',

  // Input fields (zod)
  'field.empty': '{field} must not be empty',
  'field.tooLong': '{field} must be at most {max} characters',
  'field.range': '{field} must be {min}-{max}',
  'field.uuid': '{field} must be a UUID',
  'field.notFinite': '{field} must be a finite number',
  'field.listTooLong': 'at most {max} {field}',
  'from.beforeTo': 'from must be before to',
  'metricName.pattern': 'name must start with a letter and contain only letters, digits, ".", "_" and "-"',
  'tenantName.pattern': 'name must be 1-100 letters, digits, spaces, ".", "_" or "-", starting with a letter or digit',
  'metrics.empty': 'metrics needs at least one name',
  'metrics.tooMany': 'metrics takes at most {max} names',
  'groupBy.tooMany': 'groupBy takes at most {max} tag keys',
  'filter.exactlyOne': "filter on '{key}' must set exactly one of equals, notEquals, in, notIn, exists",
  'timeZone.invalid': 'timeZone must be an IANA time zone name, e.g. Europe/Warsaw or UTC',
  'budgets.atLeast': 'budgets must be at least {min}',
  'budgets.atMost': 'budgets must be at most {max}',

  // Recorded points
  'point.counterNegative': 'a COUNTER value is an increment and must be >= 0',
  'point.future': 'timestamp is more than 10 minutes in the future',
  'point.beforeEpoch': 'timestamp is before 1970-01-01',
  'point.unitUnstorable': 'unit must not contain NUL or unpaired surrogate characters',
  'point.typeConflict': "metric '{metric}' is a {type}; it cannot record a {got}",
  'point.unitConflict': "metric '{metric}' has unit '{unit}'; got '{got}'",
  'point.metricNotCreated': "metric '{metric}' could not be created",
  'batch.tooLarge': 'A batch may hold at most {max} items; got {got}. Split it.',
  'tags.notObject': 'tags must be an object of string values',
  'tags.tooMany': 'tags may have at most {max} keys; got {got}',
  'tags.keyForbidden': 'tag key "{key}" is not allowed',
  'tags.keyLength': 'tag keys must be 1-{max} characters; "{key}" is not',
  'tags.keyUnstorable': 'tag keys must not contain NUL or unpaired surrogate characters',
  'tags.valueNotString': 'tag "{key}" must be a string; got {type}',
  'tags.valueTooLong': 'tag "{key}" is longer than {max} characters',
  'tags.valueUnstorable': 'tag "{key}" must not contain NUL or unpaired surrogate characters',

  // Metrics by name
  'metric.notFound': "metric '{metric}' does not exist in this tenant",
  'metric.notFoundAnywhere': "metric '{metric}' does not exist in this tenant (neither recorded nor defined)",
  'metric.notFoundAnywhereDidYouMean': "metric '{metric}' does not exist in this tenant (neither recorded nor defined); did you mean '{suggestion}'?",
  'metric.notFoundNorDefinition': "metric '{metric}' does not exist in this tenant (neither recorded nor a definition)",
  'metric.didYouMean': "did you mean '{suggestion}'?",
  'metric.notRecordedDidYouMean':
    "metric '{metric}' is not recorded in this tenant; did you mean '{suggestion}'? (A name nothing resembles is taken as a new metric: the subscription waits for its first point.)",
  'groupBy.notATag': "groupBy key '{key}' is not a tag of {metrics}; its tag keys are {known}",
  'groupBy.notATagDidYouMean': "groupBy key '{key}' is not a tag of {metrics}; its tag keys are {known} (did you mean '{suggestion}'?)",
  'groupBy.notATagNoTags': "groupBy key '{key}' is not a tag of {metrics}; it has no tags",

  // Queries and their limits
  'query.cursor': 'after is not a cursor returned by this same query',
  'query.overCells': 'This query would read {series} series × {buckets} buckets, over the limit of {limit}. Narrow the range, coarsen the granularity or filter by tags.',
  'query.overBuckets': 'This range spans {buckets} buckets of {granularity}, over the limit of {limit}. Narrow the range or coarsen the granularity.',
  'query.operationPages': 'The pages of one request may hold {limit} buckets together; these would hold {buckets}. Ask for smaller pages (limit) or send the fields in separate requests.',
  'query.previewOverPage': 'This preview would return {buckets} buckets; at most {limit} are returned at once, as in a page of metricAggregates. Narrow the range, coarsen the granularity or group by fewer tags.',
  'query.pagesBusy': 'This instance is already answering {capacity} buckets of wide pages; retry in {seconds} s, or ask for a smaller page (limit).',
  'query.readsBusy': 'This instance is already reading {capacity} series × buckets of wide answers; retry in {seconds} s, or narrow the range, coarsen the granularity or filter by tags.',
  'points.cursor': 'after is not a cursor returned by metricPoints',
  'live.needsTenant': 'liveAggregates needs an API key or JWT of a tenant',
  'live.noPaging': 'liveAggregates does not page: leave out `after`',
  'live.fillOverLimit':
    "With fill {fill} every series holds all {buckets} buckets of the range, over this live query's limit of {limit}. Narrow the range, coarsen the granularity or use fill NONE.",
  'live.overLimit': 'This live query holds {buckets} buckets, over its limit of {limit}. Narrow the range or coarsen the granularity.',
  'live.tooManySubscriptions': 'A connection may hold at most {limit} subscriptions; complete one or open another connection.',
  'live.tooManyConnections': 'Too many connections: a tenant may hold {limit}',

  // Anomalies
  'anomaly.granularity': 'history is read from the 1 hour and 1 day aggregates, so granularity must be HOUR or DAY, not {granularity}',
  'anomaly.noWholeBucket': 'the range must hold at least one whole {unit} that has ended: widen it or end it earlier',
  'anomaly.tooManyBuckets': 'the range holds {buckets} buckets; at most {max} are judged per request',
  'anomaly.overCells':
    'This would read {series} series × {buckets} buckets ({weeks} weeks of history and the range), over the limit of {limit}. Filter by tags, shorten the range or take fewer historyWeeks.',

  // Reports
  'report.tooManyPeriods': 'A report covers at most {max} periods; this one would cover more. Shorten the range or choose a longer period.',
  'report.overCells': 'This report would read {series} series × {periods} periods, over the limit of {limit}. Shorten the range or filter by tags.',
  'report.backfillTooLong': 'a backfill covers at most {max} days; split the range',
  'report.backfillRace': 'A backfill for your tenant started in this same millisecond; retry',

  // Metric definitions and formulas
  'definition.notFound': "metric definition '{name}' does not exist in this tenant",
  'definition.noVersion': "metric definition '{name}' has no version {version} (latest: {latest})",
  'definition.notFoundId': 'No metric definition with id {id} in this tenant',
  'definition.privateNeedsCreator': 'A PRIVATE definition needs a creator identity, which a JWT does not carry here: use an API key, or make it TENANT',
  'definition.createRoles': 'Creating a definition needs one of the roles {roles}; your key is {role}',
  'definition.changeRoles': 'Changing a definition needs one of the roles {roles}; your key is {role}',
  'definition.shadowsMetric': "'{name}' is a recorded metric; a definition must not shadow it: choose another name",
  'definition.exists': "A metric definition named '{name}' already exists in this tenant",
  'definition.notOwner': "A DEVELOPER may change only the definitions they created; '{name}' is someone else’s (ADMIN and MANAGER manage all)",
  'definition.staysTenant': "'{name}' was created with a JWT and has no creator to keep it private to; it stays TENANT",
  'definition.stale': "metric definition '{name}' (version {version}) no longer applies: {detail}",
  'formula.invalid': 'formula: {detail}',
  'formula.groupByNotTag':
    "groupBy key '{key}' is not a tag of '{metric}' (its tags: {tags}); a definition can group by tag keys that every metric it references has",
  'formula.overCost': 'This formula would read {series} series × {buckets} buckets = {cells} cells, over the limit of {limit}. Narrow the range, coarsen the granularity or filter by tags.',
  'formula.badRegex': 'A regular expression in the formula does not compile: {detail}',
  'formula.outOfRange': 'The formula’s arithmetic went beyond the range of a double (about ±1.8e308)',

  // Alerts
  'alert.notFound': 'alert rule {id} does not exist',
  'alert.exists': "an alert rule named '{name}' already exists",
  'alert.webhookUrl': 'webhookUrl must be an https:// URL, or http:// to localhost, 127.0.0.1 or [::1], without credentials',
  'alert.errorRateNeedsFilters': 'an ERROR_RATE rule needs errorFilters that pick the errors',
  'alert.eventCursor': 'before must be an event id',

  // Tenancy, keys and operations
  'tenant.exists': "A tenant named '{name}' already exists",
  'tenant.notFound': 'tenant {id} does not exist',
  'tenant.noSuchRef': "No tenant with the id or name '{ref}'. Tenants: {tenants}",
  'tenant.noneYet': 'No tenant with the id or name \'{ref}\'. There are no tenants yet: start the service once (it creates "dev").',
  'apiKey.notFound': 'No API key with id {id} in this tenant',
  'audit.cursor': 'cursor is not a nextCursor returned by auditLog',
  'purge.confirm': 'purgeMetrics removes points for good: pass confirm: true to go ahead',

  // Cardinality budgets
  'budget.tenantSeries': "the tenant's series budget (max series {max}) is used up; this point would create a new series",
  'budget.metricSeries': "metric '{metric}' has used its series budget (max series per metric {max}); this point would create a new series",
  'budget.tagValues': "tag '{key}' of metric '{metric}' has used its budget of distinct values (max tag values {max}); '{value}' would be a new one",
} as const;

export type MessageId = keyof typeof english;

/** A message in one language: a template, or a function of the params where a param's value needs translating too. */
export type Template = string | ((params: Params) => string);

/** The Polish answer is the English one (see the module comment). */
export const ENGLISH = Symbol('english');

const POLISH_KIND: Readonly<Record<string, string>> = { points: 'punktów', writes: 'zapisów', queries: 'zapytań' };
const POLISH_OPERATOR_ACTION: Readonly<Record<string, string>> = { 'create tenants': 'tworzyć najemców', 'set tenant limits': 'ustawiać limity najemców' };

export const polish: Readonly<Record<MessageId, Template | typeof ENGLISH>> = {
  'auth.invalidKeyOrToken': 'Nieprawidłowy klucz API lub token',
  'auth.invalidKey': 'Nieprawidłowy klucz API',
  'auth.keyRevoked': ENGLISH,
  'auth.sendBearer': 'Wyślij nagłówek "Authorization: Bearer <klucz API lub JWT>"',
  'auth.sendBearerWs':
    'Wyślij connectionParams: { "authorization": "Bearer <klucz API lub JWT>" } w connection_init albo nagłówek Authorization w extensions.headers komunikatu subscribe (jak robi to GraphiQL)',
  'auth.bearerForm': 'Nagłówek Authorization musi mieć postać "Bearer <token>"',
  'auth.replacePlaceholder':
    'Zastąp <your API key> w nagłówku Authorization (zakładka Headers w GraphiQL) swoim kluczem API: `npm start` wypisuje go za pierwszym razem dla najemcy dev; `npm run key -- --tenant dev` tworzy kolejny',
  'auth.tokenExpired': 'Token wygasł',
  'auth.tokenMalformed': 'Token ma nieprawidłową postać',
  'auth.tokenSignature': 'Nieprawidłowy podpis tokenu',
  'auth.tokenTenantMissing': 'Token wskazuje najemcę, który nie istnieje',
  'auth.onlyHs256': ENGLISH,
  'auth.tokenClaims': ENGLISH,
  'auth.roles': 'Wymagana jest jedna z ról: {roles}; twój klucz ma rolę {role}',
  'auth.operatorOnly': ({ action }) => `Tylko token operatora może ${POLISH_OPERATOR_ACTION[String(action)] ?? action}`,
  'auth.sendOperatorToken': ENGLISH,
  'auth.operatorManagesTenants': ENGLISH,
  'auth.connectionRevoked': ENGLISH,

  'request.invalid': ENGLISH,
  'request.unstorable': ENGLISH,
  'request.unavailable': 'Baza danych jest niedostępna; spróbuj ponownie za chwilę',
  'request.internal': 'Nieoczekiwany błąd. (identyfikator żądania {requestId})',
  'request.rateLimited': ({ kind, seconds }) => `Zbyt wiele ${POLISH_KIND[String(kind)] ?? kind} dla tego najemcy; spróbuj ponownie za ${seconds} s.`,
  'request.timeout': 'Zapytanie trwało dłużej niż {ms} ms. Zawęź zakres, wybierz grubszą ziarnistość lub filtruj po tagach.',
  'request.tooDeep': ENGLISH,

  'dateTime.epoch': ENGLISH,
  'dateTime.notIso': ENGLISH,
  'dateTime.literal': ENGLISH,
  'dateTime.notReal': ENGLISH,
  'dateTime.beforeYear1': ENGLISH,
  'tags.notFlat': ENGLISH,

  'field.empty': '{field} nie może być puste',
  'field.tooLong': '{field} może mieć najwyżej {max} znaków',
  'field.range': ENGLISH,
  'field.uuid': ENGLISH,
  'field.notFinite': '{field} musi być skończoną liczbą',
  'field.listTooLong': ENGLISH,
  'from.beforeTo': 'from musi być wcześniej niż to',
  'metricName.pattern': 'name musi zaczynać się literą i zawierać tylko litery, cyfry, ".", "_" i "-"',
  'tenantName.pattern': ENGLISH,
  'metrics.empty': 'metrics potrzebuje co najmniej jednej nazwy',
  'metrics.tooMany': 'metrics przyjmuje najwyżej {max} nazw',
  'groupBy.tooMany': ENGLISH,
  'filter.exactlyOne': ENGLISH,
  'timeZone.invalid': ENGLISH,
  'budgets.atLeast': ENGLISH,
  'budgets.atMost': ENGLISH,

  'point.counterNegative': 'wartość COUNTER jest przyrostem i musi być >= 0',
  'point.future': 'timestamp jest ponad 10 minut w przyszłości',
  'point.beforeEpoch': 'timestamp jest wcześniejszy niż 1970-01-01',
  'point.unitUnstorable': ENGLISH,
  'point.typeConflict': "metryka '{metric}' jest typu {type}; nie może zapisać punktu typu {got}",
  'point.unitConflict': "metryka '{metric}' ma jednostkę '{unit}'; otrzymano '{got}'",
  'point.metricNotCreated': ENGLISH,
  'batch.tooLarge': 'Partia może zawierać najwyżej {max} elementów; otrzymano {got}. Podziel ją.',
  'tags.notObject': ENGLISH,
  'tags.tooMany': 'tagi mogą mieć najwyżej {max} kluczy; otrzymano {got}',
  'tags.keyForbidden': ENGLISH,
  'tags.keyLength': ENGLISH,
  'tags.keyUnstorable': ENGLISH,
  'tags.valueNotString': 'tag "{key}" musi być tekstem; otrzymano {type}',
  'tags.valueTooLong': ENGLISH,
  'tags.valueUnstorable': ENGLISH,

  'metric.notFound': "metryka '{metric}' nie istnieje u tego najemcy",
  'metric.notFoundAnywhere': "metryka '{metric}' nie istnieje u tego najemcy (ani zapisana, ani zdefiniowana)",
  'metric.notFoundAnywhereDidYouMean': "metryka '{metric}' nie istnieje u tego najemcy (ani zapisana, ani zdefiniowana); czy chodziło o '{suggestion}'?",
  'metric.notFoundNorDefinition': "metryka '{metric}' nie istnieje u tego najemcy (ani zapisana, ani jako definicja)",
  'metric.didYouMean': "czy chodziło o '{suggestion}'?",
  'metric.notRecordedDidYouMean': ENGLISH,
  'groupBy.notATag': ENGLISH,
  'groupBy.notATagDidYouMean': ENGLISH,
  'groupBy.notATagNoTags': ENGLISH,

  'query.cursor': ENGLISH,
  'query.overCells': ENGLISH,
  'query.overBuckets': ENGLISH,
  'query.operationPages': ENGLISH,
  'query.previewOverPage': ENGLISH,
  'query.pagesBusy': ENGLISH,
  'query.readsBusy': ENGLISH,
  'points.cursor': ENGLISH,
  'live.needsTenant': ENGLISH,
  'live.noPaging': ENGLISH,
  'live.fillOverLimit': ENGLISH,
  'live.overLimit': ENGLISH,
  'live.tooManySubscriptions': ENGLISH,
  'live.tooManyConnections': ENGLISH,

  'anomaly.granularity': ENGLISH,
  'anomaly.noWholeBucket': ENGLISH,
  'anomaly.tooManyBuckets': ENGLISH,
  'anomaly.overCells': ENGLISH,

  'report.tooManyPeriods': ENGLISH,
  'report.overCells': ENGLISH,
  'report.backfillTooLong': ENGLISH,
  'report.backfillRace': ENGLISH,

  'definition.notFound': ENGLISH,
  'definition.noVersion': ENGLISH,
  'definition.notFoundId': ENGLISH,
  'definition.privateNeedsCreator': ENGLISH,
  'definition.createRoles': ENGLISH,
  'definition.changeRoles': ENGLISH,
  'definition.shadowsMetric': ENGLISH,
  'definition.exists': ENGLISH,
  'definition.notOwner': ENGLISH,
  'definition.staysTenant': ENGLISH,
  'definition.stale': ENGLISH,
  'formula.invalid': ENGLISH,
  'formula.groupByNotTag': ENGLISH,
  'formula.overCost': ENGLISH,
  'formula.badRegex': ENGLISH,
  'formula.outOfRange': ENGLISH,

  'alert.notFound': 'reguła alertu {id} nie istnieje',
  'alert.exists': ENGLISH,
  'alert.webhookUrl': ENGLISH,
  'alert.errorRateNeedsFilters': ENGLISH,
  'alert.eventCursor': ENGLISH,

  'tenant.exists': ENGLISH,
  'tenant.notFound': ENGLISH,
  'tenant.noSuchRef': ENGLISH,
  'tenant.noneYet': ENGLISH,
  'apiKey.notFound': ENGLISH,
  'audit.cursor': ENGLISH,
  'purge.confirm': ENGLISH,

  'budget.tenantSeries': ENGLISH,
  'budget.metricSeries': ENGLISH,
  'budget.tagValues': ENGLISH,
};

export type Locale = 'en' | 'pl';

/** A message raised by id: what the catalog renders in any language. */
export interface Phrase {
  id: MessageId;
  params: Params;
}

export function isMessageId(text: string): text is MessageId {
  return Object.hasOwn(english, text);
}

/** `id` with `params` in `locale` (English where the Polish catalog says ENGLISH). */
export function render({ id, params }: Phrase, locale: Locale): string {
  const localized = locale === 'pl' ? polish[id] : ENGLISH;
  const template: Template = localized === ENGLISH ? english[id] : localized;
  if (typeof template === 'function') return template(params);
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => (Object.hasOwn(params, name) ? String(params[name]) : whole));
}

/** `id` in English: the text of item failures in payloads and of anything not localized per request. */
export function inEnglish(id: MessageId, params: Params = {}): string {
  return render({ id, params }, 'en');
}

/** A message raised by id with its English text: for failures that are data (an item of a batch) before they are errors. */
export interface Phrased {
  phrase: Phrase;
  message: string;
}

export function phrased(id: MessageId, params: Params = {}): Phrased {
  return { phrase: { id, params }, message: inEnglish(id, params) };
}

/**
 * The message of a zod check or issue, by id. Zod 4 keeps an issue's message a string and a
 * built-in check (`.max(n, …)`) carries nothing else, so the id and params travel in that
 * string: `field.range {"field":"limit","min":1,"max":500}`. Only phraseOfZod reads it back.
 */
export function zodMessage(id: MessageId, params?: Params): string {
  return params ? `${id} ${JSON.stringify(params)}` : id;
}

/** The phrase a zodMessage carries, or null for zod's own messages (shown as zod wrote them). */
export function phraseOfZod(message: string): Phrase | null {
  const space = message.indexOf(' ');
  const id = space === -1 ? message : message.slice(0, space);
  if (!isMessageId(id)) return null;
  return { id, params: space === -1 ? {} : (JSON.parse(message.slice(space + 1)) as Params) };
}
