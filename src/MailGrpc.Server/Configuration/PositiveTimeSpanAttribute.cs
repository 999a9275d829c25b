using System.ComponentModel.DataAnnotations;

namespace MailGrpc.Server.Configuration;

/// <summary>
/// A time span setting that must be above zero. The failure is the given message alone (no member-name prefix), so a
/// source-generated validator prints the same line a hand-written one would.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class PositiveTimeSpanAttribute(string message) : ValidationAttribute(message)
{
    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext) =>
        value is TimeSpan span && span > TimeSpan.Zero ? ValidationResult.Success : new ValidationResult(ErrorMessageString);
}
