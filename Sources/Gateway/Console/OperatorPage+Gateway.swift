import Dialects
import Foundation
import Operations
import StockCore

extension OperatorPage {
    /// Gathers the page's figures; a part that cannot be read says why instead of failing the page.
    static func snapshot(
        gateway: Gateway, location: String?, filter: Filter = Filter(), now: Date = Date()
    ) async -> Snapshot {
        let problem = await gateway.checkHealth()
        var snapshot = Snapshot(
            generatedAt: now, version: BuildInfo.description,
            status: gateway.isDraining ? "draining" : (problem == nil ? "ok" : "unavailable"), problem: problem,
            location: location)
        snapshot.filter = filter
        let figures = gateway.metrics.backendFigures()
        for remote in gateway.remoteBackends {
            var query = MovementQuery()
            query.backend = remote.name
            query.state = .sent
            let count = try? await remote.journal.count(query)
            let activity = remote.activity.withLock { $0 }
            snapshot.backends.append(
                BackendRow(
                    name: remote.name, dialect: remote.codec.dialect, baseURL: Self.withoutUserInfo(remote.baseURL),
                    circuit: remote.circuitDescription(), unknownOutcomes: count, circuitSince: activity.circuit?.since,
                    lastSuccess: activity.lastSuccess, lastError: activity.lastError,
                    figures: figures[remote.name] ?? GatewayMetrics.BackendFigures()))
            snapshot.backendNames.append(remote.name)
        }
        snapshot.traffic = gateway.metrics.trafficByDialect().sorted { $0.key < $1.key }.map {
            (dialect: $0.key, traffic: $0.value)
        }
        let facts = RequestFacts(dialect: CanonicalCodec.dialect, requestID: "console")
        if let journal = gateway.journalReader {
            var unknown = MovementQuery()
            unknown.backend = MovementQuery.anyBackend
            unknown.state = .sent
            unknown.location = location
            snapshot.unknownTotal = (try? await journal.count(unknown)) ?? 0
            unknown.order = [.init(.id, descending: true)]
            unknown.limit = maxUnknown
            snapshot.unknown = (try? await journal.movements(unknown)) ?? []
            do {
                snapshot.movements = try await latestMovements(
                    journal, location: location, filter: filter, remote: !gateway.remoteBackends.isEmpty)
            } catch {
                snapshot.movementsError = Self.reason(error)
            }
        }
        if let remote = gateway.backend as? RemoteBackend {
            snapshot.balancesSource = "backend \(remote.name) (\(remote.codec.dialect))"
        } else if let store = gateway.backend as? any LedgerStore {
            snapshot.balancesSource = store.storeDescription
        }
        do {
            let outcome = try await gateway.backend.execute(
                .readBalances(BalanceQuery(location: location, includeZero: false)), facts: facts)
            if case .balances(let balances) = outcome {
                snapshot.balances = balances.sorted { ($0.location, $0.product) < ($1.location, $1.product) }
            }
        } catch {
            snapshot.balancesError = Self.reason(error)
        }
        return snapshot
    }

}
