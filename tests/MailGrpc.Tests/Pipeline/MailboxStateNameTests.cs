using Google.Protobuf.Reflection;
using MailGrpc.Server.GrpcApi;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Server.Messages;

namespace MailGrpc.Tests.Pipeline;

/// <summary>
/// MAILBOX_NOT_ACTIVE names the state as every SDK spells it; the core writes that name without the contract's types, so
/// this pins it to the proto's own value names.
/// </summary>
[Trait("Layer", "Fast")]
public sealed class MailboxStateNameTests
{
    [Fact]
    public void Every_state_name_is_the_contracts_enum_value_name()
    {
        var descriptor = MailGrpc.V1.MailboxReflection.Descriptor.FindTypeByName<EnumDescriptor>("MailboxState");
        Assert.All(Enum.GetValues<MailboxState>(), state =>
            Assert.Equal(descriptor.FindValueByNumber((int)MailboxProtoMapper.ToProto(state)).Name, MessageRequestValidator.StateName(state)));
    }
}
