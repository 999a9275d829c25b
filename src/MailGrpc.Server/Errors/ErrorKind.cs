namespace MailGrpc.Server.Errors;

/// <summary>
/// What kind of failure an error is, in the core's own words. The gRPC edge maps each kind to one status code
/// (<see cref="ExceptionMapper"/>); nothing else in the server chooses a status.
/// </summary>
internal enum ErrorKind
{
    InvalidArgument,
    NotFound,
    AlreadyExists,
    FailedPrecondition,
    PermissionDenied,
    Unauthenticated,
    Aborted,
    Unavailable,
    ResourceExhausted,
    Cancelled,
    Internal,
}
