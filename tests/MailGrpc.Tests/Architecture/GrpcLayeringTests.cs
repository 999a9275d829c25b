using Mono.Cecil;
using Mono.Cecil.Cil;

namespace MailGrpc.Tests.Architecture;

/// <summary>
/// The core does not speak gRPC (README, "Layout"): no type of the server assembly outside the gRPC edge
/// (<c>MailGrpc.Server.GrpcApi</c>) and the one error mapper (<c>Errors/ExceptionMapper</c>) may refer to a type of
/// gRPC (<c>Grpc.*</c>: Grpc.Core, Grpc.AspNetCore …), <c>Google.Rpc</c>, <c>Google.Protobuf</c> or the API
/// (<c>MailGrpc.V1</c>). Checked on the compiled IL (Mono.Cecil), so a reference through a signature, a local, a
/// generic argument, an attribute or a call inside a lambda or an async state machine counts, and a comment or a
/// string does not.
/// </summary>
[Trait("Layer", "Fast")]
public sealed class GrpcLayeringTests
{
    /// <summary>The namespaces (and everything under them) only the edge may use.</summary>
    private static readonly string[] EdgeOnly = ["Grpc", "Google.Rpc", "Google.Protobuf", "MailGrpc.V1"];

    private static readonly string[] EdgeNamespaces = ["MailGrpc.Server.GrpcApi"];

    private static readonly string[] EdgeTypes = ["MailGrpc.Server.Errors.ExceptionMapper"];

    [Fact]
    public void Only_the_grpc_edge_and_the_error_mapper_refer_to_grpc_or_proto_types()
    {
        using var module = ModuleDefinition.ReadModule(typeof(MailGrpc.Server.Mailboxes.MailboxManager).Assembly.Location);

        var violations = module.GetTypes()
            .Where(type => !IsEdge(type))
            .SelectMany(type => EdgeOnlyReferences(type).Select(found => (Type: OutermostName(type), found.Referenced, found.Where)))
            .Select(v => $"{v.Type} → {v.Referenced} ({v.Where})")
            .Distinct()
            .Order(StringComparer.Ordinal)
            .ToList();

        Assert.True(violations.Count == 0, "gRPC or proto types outside GrpcApi/ and Errors/ExceptionMapper:\n" + string.Join("\n", violations));
    }

    [Fact]
    public void The_check_sees_grpc_references_where_they_are_allowed()
    {
        // The detector itself: the edge's service must be found referring to Grpc.Core and the API, through its base type,
        // its signatures and the async state machines of its methods; the mapper must be found referring to Google.Rpc.
        using var module = ModuleDefinition.ReadModule(typeof(MailGrpc.Server.Mailboxes.MailboxManager).Assembly.Location);
        var service = module.GetType("MailGrpc.Server.GrpcApi.MailboxGrpcService");
        var found = module.GetTypes().Where(t => OutermostName(t) == service.FullName).SelectMany(EdgeOnlyReferences).Select(f => f.Referenced).ToHashSet();
        Assert.Contains("Grpc.Core.ServerCallContext", found);
        Assert.Contains("MailGrpc.V1.MailboxService/MailboxServiceBase", found);
        Assert.Contains("MailGrpc.V1.CreateMailboxResponse", found);

        var mapper = module.GetType("MailGrpc.Server.Errors.ExceptionMapper");
        Assert.Contains("Google.Rpc.ErrorInfo", EdgeOnlyReferences(mapper).Select(f => f.Referenced));
        Assert.True(IsEdge(service) && IsEdge(mapper));
        Assert.False(IsEdge(module.GetType("MailGrpc.Server.Mailboxes.MailboxManager")));
    }

    private static bool IsEdge(TypeDefinition type)
    {
        var name = OutermostName(type);
        var ns = Namespace(type);
        return EdgeTypes.Contains(name) || EdgeNamespaces.Any(edge => InNamespace(ns, edge));
    }

    private static bool InNamespace(string ns, string root) => ns == root || ns.StartsWith(root + ".", StringComparison.Ordinal);

    private static string Namespace(TypeReference type)
    {
        while (type.DeclaringType is not null)
        {
            type = type.DeclaringType;
        }

        return type.Namespace;
    }

    private static string OutermostName(TypeReference type)
    {
        while (type.DeclaringType is not null)
        {
            type = type.DeclaringType;
        }

        return type.FullName;
    }

    /// <summary>Every edge-only type <paramref name="type"/> refers to, with where (member) it does.</summary>
    internal static IEnumerable<(string Referenced, string Where)> EdgeOnlyReferences(TypeDefinition type)
    {
        var found = new List<(string, string)>();
        void Check(TypeReference? reference, string where)
        {
            foreach (var t in Flatten(reference))
            {
                if (EdgeOnly.Any(root => InNamespace(Namespace(t), root)))
                {
                    found.Add((t.FullName, where));
                }
            }
        }

        void CheckAttributes(ICustomAttributeProvider provider, string where)
        {
            foreach (var attribute in provider.CustomAttributes)
            {
                Check(attribute.AttributeType, where);
                foreach (var argument in attribute.ConstructorArguments)
                {
                    Check(argument.Type, where);
                    Check(argument.Value as TypeReference, where);
                }
            }
        }

        void CheckMethodReference(MethodReference method, string where)
        {
            Check(method.DeclaringType, where);
            Check(method.ReturnType, where);
            foreach (var parameter in method.Parameters)
            {
                Check(parameter.ParameterType, where);
            }

            if (method is GenericInstanceMethod generic)
            {
                foreach (var argument in generic.GenericArguments)
                {
                    Check(argument, where);
                }
            }
        }

        Check(type.BaseType, "base type");
        foreach (var implemented in type.Interfaces)
        {
            Check(implemented.InterfaceType, "interface");
        }

        CheckAttributes(type, "attribute");
        foreach (var parameter in type.GenericParameters)
        {
            foreach (var constraint in parameter.Constraints)
            {
                Check(constraint.ConstraintType, "generic constraint");
            }
        }

        foreach (var field in type.Fields)
        {
            Check(field.FieldType, field.Name);
            CheckAttributes(field, field.Name);
        }

        foreach (var property in type.Properties)
        {
            Check(property.PropertyType, property.Name);
            CheckAttributes(property, property.Name);
        }

        foreach (var method in type.Methods)
        {
            var where = method.Name;
            Check(method.ReturnType, where);
            CheckAttributes(method, where);
            foreach (var parameter in method.Parameters)
            {
                Check(parameter.ParameterType, where);
                CheckAttributes(parameter, where);
            }

            foreach (var parameter in method.GenericParameters)
            {
                foreach (var constraint in parameter.Constraints)
                {
                    Check(constraint.ConstraintType, where);
                }
            }

            foreach (var overridden in method.Overrides)
            {
                CheckMethodReference(overridden, where);
            }

            if (!method.HasBody)
            {
                continue;
            }

            foreach (var variable in method.Body.Variables)
            {
                Check(variable.VariableType, where);
            }

            foreach (var handler in method.Body.ExceptionHandlers)
            {
                Check(handler.CatchType, where);
            }

            foreach (var instruction in method.Body.Instructions)
            {
                switch (instruction.Operand)
                {
                    case TypeReference t:
                        Check(t, where);
                        break;
                    case MethodReference m:
                        CheckMethodReference(m, where);
                        break;
                    case FieldReference f:
                        Check(f.DeclaringType, where);
                        Check(f.FieldType, where);
                        break;
                    case CallSite site:
                        Check(site.ReturnType, where);
                        foreach (var parameter in site.Parameters)
                        {
                            Check(parameter.ParameterType, where);
                        }

                        break;
                }
            }
        }

        return found;
    }

    /// <summary>A type reference and every type it is made of (element types, generic arguments, declaring types).</summary>
    private static IEnumerable<TypeReference> Flatten(TypeReference? type)
    {
        if (type is null or GenericParameter)
        {
            yield break;
        }

        switch (type)
        {
            case GenericInstanceType generic:
                foreach (var inner in Flatten(generic.ElementType))
                {
                    yield return inner;
                }

                foreach (var argument in generic.GenericArguments)
                {
                    foreach (var inner in Flatten(argument))
                    {
                        yield return inner;
                    }
                }

                yield break;
            case TypeSpecification specification:
                foreach (var inner in Flatten(specification.ElementType))
                {
                    yield return inner;
                }

                yield break;
            default:
                yield return type;
                yield break;
        }
    }
}
