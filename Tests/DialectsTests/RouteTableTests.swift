import StockCore
import Testing

@testable import Dialects

/// The route table of every inbound dialect against its `Endpoint` enum: `decode` switches
/// over the enum, so an endpoint without a route would be unreachable code and a route
/// without a case could not be written at all.
@Suite("Route tables")
struct RouteTableTests {
    struct Table: Sendable, CustomTestStringConvertible {
        var dialect: String
        var endpoints: [String]
        var routed: [String]
        var requestLines: [String]
        var testDescription: String { dialect }
    }

    static func table(_ codec: some InboundCodec) -> Table {
        Table(
            dialect: codec.dialect.rawValue,
            endpoints: type(of: codec).Endpoint.allCases.map(\.rawValue),
            routed: codec.routes.map(\.name),
            requestLines: codec.routes.map { "\($0.method?.rawValue ?? "*") \($0.path)" })
    }

    static let tables = DialectRegistry.all.map { table($0.inboundCodec(settings: [:])) }

    @Test("every endpoint has exactly one route, one request line each", arguments: tables)
    func oneRoutePerEndpoint(_ table: Table) {
        #expect(table.routed.sorted() == table.endpoints.sorted())
        #expect(Set(table.requestLines).count == table.requestLines.count)
    }

    @Test("the metric labels of all dialects are dotted lower-case names")
    func labels() {
        for table in Self.tables {
            for label in table.endpoints {
                #expect(label.allSatisfy { $0.isLowercase || $0 == "." || $0 == "_" }, "\(table.dialect): \(label)")
            }
        }
    }

    /// Issue 30, point 5: who a route is for and where it is served is the codec's declaration,
    /// not a list of names in the gateway. Only the journal's settle is the operator's.
    @Test("routes declare their audience and exposure: the settle is the operator's, canonical reads on both listeners")
    func audienceAndExposure() {
        let canonical = CanonicalCodec()
        for route in canonical.routes {
            switch route.endpoint {
            case .journalSettle:
                #expect(route.audience == .operator && route.exposure == .operations)
            default:
                #expect(route.audience == .stock)
                #expect(route.exposure == (route.method == .get ? .both : .traffic), "\(route.name)")
            }
        }
        for route in StoreFeederCodec().routes {
            #expect(route.audience == .stock && route.exposure == .traffic, "\(route.name)")
        }
        for route in ZettleCodec().routes {
            #expect(route.audience == .stock && route.exposure == .traffic, "\(route.name)")
        }
    }
}
