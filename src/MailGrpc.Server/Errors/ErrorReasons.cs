namespace MailGrpc.Server.Errors;

/// <summary>
/// The stable <c>google.rpc.ErrorInfo.reason</c> codes MailGrpc returns. docs/errors.md lists them for callers;
/// a code, once shipped, never changes meaning.
/// </summary>
internal static class ErrorReasons
{
    public const string Domain = "mailgrpc.v1";

    // Callers and tenants.
    public const string ApiKeyMissing = "API_KEY_MISSING";
    public const string ApiKeyInvalid = "API_KEY_INVALID";

    // Generic request validation.
    public const string InvalidArgument = "INVALID_ARGUMENT";
    public const string InvalidMailboxId = "INVALID_MAILBOX_ID";
    public const string InvalidUsername = "INVALID_USERNAME";
    public const string InvalidDisplayName = "INVALID_DISPLAY_NAME";
    public const string InvalidHost = "INVALID_HOST";
    public const string InvalidPort = "INVALID_PORT";
    public const string InvalidSecurity = "INVALID_SECURITY";
    public const string InvalidProvider = "INVALID_PROVIDER";
    public const string ServerRequired = "SERVER_REQUIRED";
    public const string AuthMethodRequired = "AUTH_METHOD_REQUIRED";
    public const string UnknownOAuthClient = "UNKNOWN_OAUTH_CLIENT";
    public const string InvalidPageToken = "INVALID_PAGE_TOKEN";
    public const string InvalidPageSize = "INVALID_PAGE_SIZE";
    public const string InvalidUpdateMask = "INVALID_UPDATE_MASK";
    public const string InvalidStateTransition = "INVALID_STATE_TRANSITION";
    public const string HostNotAllowed = "HOST_NOT_ALLOWED";

    // Mailboxes.
    public const string MailboxNotFound = "MAILBOX_NOT_FOUND";
    public const string MailboxAlreadyExists = "MAILBOX_ALREADY_EXISTS";
    public const string EtagMismatch = "ETAG_MISMATCH";

    // Messages and POP3 (docs/errors.md, "Messages").
    public const string MailboxNotActive = "MAILBOX_NOT_ACTIVE";
    public const string MailboxBusy = "MAILBOX_BUSY";
    public const string InvalidConsumer = "INVALID_CONSUMER";
    public const string InvalidUid = "INVALID_UID";
    public const string InvalidUids = "INVALID_UIDS";
    public const string InvalidView = "INVALID_VIEW";
    public const string InvalidLimit = "INVALID_LIMIT";
    public const string MessageNotFound = "MESSAGE_NOT_FOUND";
    public const string MessageTooLarge = "MESSAGE_TOO_LARGE";
    public const string Pop3ConnectFailed = "POP3_CONNECT_FAILED";
    public const string Pop3TlsFailed = "POP3_TLS_FAILED";
    public const string Pop3StartTlsUnsupported = "POP3_STARTTLS_UNSUPPORTED";
    public const string Pop3SecurityMismatch = "POP3_SECURITY_MISMATCH";
    public const string Pop3UidlUnsupported = "POP3_UIDL_UNSUPPORTED";
    public const string Pop3AuthMechanismUnsupported = "POP3_AUTH_MECHANISM_UNSUPPORTED";
    public const string Pop3CredentialRefused = "POP3_CREDENTIAL_REFUSED";
    public const string Pop3ConnectionLost = "POP3_CONNECTION_LOST";
    public const string Pop3CommandFailed = "POP3_COMMAND_FAILED";
    public const string Pop3Timeout = "POP3_TIMEOUT";
    public const string Pop3LeaseLost = "POP3_LEASE_LOST";
    public const string Pop3DeleteNotCommitted = "POP3_DELETE_NOT_COMMITTED";

    // Login replies classified by RESP-CODES and provider lines (Pop3/LoginReplyClassifier), and the byte budget.
    public const string Pop3ServerUnavailable = "POP3_SERVER_UNAVAILABLE";
    public const string Pop3AccessDisabled = "POP3_ACCESS_DISABLED";
    public const string Pop3AuthProtocolError = "POP3_AUTH_PROTOCOL_ERROR";
    public const string Pop3BasicAuthDisabled = "POP3_BASIC_AUTH_DISABLED";
    public const string MemoryBudgetExhausted = "MEMORY_BUDGET_EXHAUSTED";

    // Consumer ledgers (Messages/ConsumerLedger).
    public const string ConsumerLimitReached = "CONSUMER_LIMIT_REACHED";

    // Server side.
    public const string StoreUnavailable = "STORE_UNAVAILABLE";
    public const string ServerDraining = "SERVER_DRAINING";
    public const string Timeout = "TIMEOUT";
    public const string Internal = "INTERNAL";
    public const string Cancelled = "CANCELLED";

    // Authorization (tokens, passwords, OAuth flows). See docs/authorization.md.
    public const string NotOAuthMailbox = "NOT_OAUTH_MAILBOX";
    public const string NotPasswordMailbox = "NOT_PASSWORD_MAILBOX";
    public const string InvalidPassword = "INVALID_PASSWORD";
    public const string InvalidRefreshToken = "INVALID_REFRESH_TOKEN";
    public const string InvalidCallback = "INVALID_CALLBACK";
    public const string RedirectUriNotAllowed = "REDIRECT_URI_NOT_ALLOWED";
    public const string NoRedirectUri = "NO_REDIRECT_URI";
    public const string StateNotFound = "STATE_NOT_FOUND";
    public const string StateAlreadyUsed = "STATE_ALREADY_USED";
    public const string StateExpired = "STATE_EXPIRED";
    public const string StateTenantMismatch = "STATE_TENANT_MISMATCH";
    public const string InvalidGrant = "INVALID_GRANT";
    public const string PkceVerificationFailed = "PKCE_VERIFICATION_FAILED";
    public const string ProviderError = "OAUTH_PROVIDER_ERROR";
    public const string ProviderUnavailable = "OAUTH_PROVIDER_UNAVAILABLE";
    public const string ProviderMisconfigured = "OAUTH_CLIENT_REJECTED";
    public const string AccessDenied = "ACCESS_DENIED";
    public const string DeviceCodeExpired = "DEVICE_CODE_EXPIRED";
    public const string DeviceFlowNotSupported = "DEVICE_FLOW_NOT_SUPPORTED";
    public const string ClientCredentialsNotSupported = "CLIENT_CREDENTIALS_NOT_SUPPORTED";
    public const string NoRefreshToken = "NO_REFRESH_TOKEN";
    public const string NotAuthorized = "NOT_AUTHORIZED";
    public const string ReauthorizationRequired = "REAUTHORIZATION_REQUIRED";
    public const string MailboxDisabled = "MAILBOX_DISABLED";
    public const string CredentialUnreadable = "CREDENTIAL_UNREADABLE";
    public const string RefreshLockTimeout = "REFRESH_LOCK_TIMEOUT";

    // The provider's own error, classified (Entra AADSTS codes; docs/troubleshooting.md#provider-errors).
    public const string OAuthClientSecretInvalid = "OAUTH_CLIENT_SECRET_INVALID";
    public const string OAuthClientIdInvalid = "OAUTH_CLIENT_ID_INVALID";
    public const string OAuthTenantNotFound = "OAUTH_TENANT_NOT_FOUND";
    public const string OAuthAdminConsentRequired = "OAUTH_ADMIN_CONSENT_REQUIRED";
    public const string OAuthConditionalAccess = "OAUTH_CONDITIONAL_ACCESS";
    // Authorization hardening (issue #10): refresh tokens, RFC 9207 issuer, identity binding.
    public const string RefreshTokenNotIssued = "REFRESH_TOKEN_NOT_ISSUED";
    public const string IssuerMismatch = "ISSUER_MISMATCH";
    public const string IssuerMissing = "ISSUER_MISSING";
    public const string IdentityMismatch = "IDENTITY_MISMATCH";
    public const string IdentityUnavailable = "IDENTITY_UNAVAILABLE";

    // Sync engine (issue #13).
    public const string InvalidSyncInterval = "INVALID_SYNC_INTERVAL";
    // Events and webhooks (issue #13; docs/events.md, docs/webhooks.md).
    public const string InvalidConsumerGroup = "INVALID_CONSUMER_GROUP";
    public const string InvalidEventType = "INVALID_EVENT_TYPE";
    public const string InvalidEventId = "INVALID_EVENT_ID";
    public const string InvalidVisibilityTimeout = "INVALID_VISIBILITY_TIMEOUT";
    public const string InvalidWebhookId = "INVALID_WEBHOOK_ID";
    public const string InvalidWebhookUrl = "INVALID_WEBHOOK_URL";
    public const string InvalidDeadLetterId = "INVALID_DEAD_LETTER_ID";
    public const string WebhookUrlNotAllowed = "WEBHOOK_URL_NOT_ALLOWED";
    public const string WebhookNotFound = "WEBHOOK_NOT_FOUND";
    public const string WebhookLimitReached = "WEBHOOK_LIMIT_REACHED";
    public const string EventsRequireRedis = "EVENTS_REQUIRE_REDIS";

    // Retention policies (issue #13).
    public const string InvalidRetentionMode = "INVALID_RETENTION_MODE";
    public const string InvalidRetentionConsumers = "INVALID_RETENTION_CONSUMERS";
    public const string InvalidRetentionDeleteAfter = "INVALID_RETENTION_DELETE_AFTER";

    // gRPC request framing (issue #11): a message prefix declaring more than the receive limit.
    public const string RequestTooLarge = "REQUEST_TOO_LARGE";
}
