import Dialects
import HTTPTypes
import StockCore

/// The fault admin API, served only with `serve --enable-faults` (issue 16):
///
/// - `POST /stockgate/v1/test/faults` schedules one fault (a JSON object) or several
///   (`{"faults": [...]}`); 201 with them and their ids.
/// - `GET /stockgate/v1/test/faults` lists them, with how many requests each has seen and hit.
/// - `DELETE /stockgate/v1/test/faults` removes every one; `DELETE …/faults/{id}` one.
///
/// A fault that does not read is refused 400 naming the member, and nothing is scheduled.
public enum FaultsEndpoint {
    public static func answer(
        method: HTTPRequest.Method, path: String, body: [UInt8]?, schedule: FaultSchedule
    )
        -> CodecResponse
    {
        let segments = path.prefix { $0 != "?" }.split(separator: "/")
        switch method {
        case .get:
            return .json(.ok, ["faults": .array(schedule.faults.map(\.json))])
        case .delete:
            if segments.count == 5 {
                guard let id = Int(segments[4]) else {
                    return refusal(GatewayError.invalidValue("a fault id is an integer", field: "id"))
                }
                let removed = schedule.remove(id: id)
                guard removed > 0 else { return refusal(GatewayError.notFound("no fault \(id)", field: "id")) }
                return .json(.ok, ["removed": .integer(removed)])
            }
            return .json(.ok, ["removed": .integer(schedule.remove())])
        default:
            let bytes = body ?? []
            let document: JSONValue
            do {
                document = try JSONParser.parse(bytes)
            } catch {
                return refusal(GatewayError.malformed("the body is not JSON: \(error)"))
            }
            var faults: [Fault] = []
            do throws(GatewayError) {
                if let list = document["faults"] {
                    guard let items = list.arrayValue, !items.isEmpty else {
                        throw GatewayError.invalidValue("a non-empty array of faults", field: "faults")
                    }
                    for (index, item) in items.enumerated() {
                        faults.append(try Fault.parse(item, at: "faults[\(index)]"))
                    }
                } else {
                    faults.append(try Fault.parse(document, at: ""))
                }
            } catch {
                return refusal(error)
            }
            return .json(.created, ["faults": .array(schedule.add(faults).map(\.json))])
        }
    }

    public static func refusal(_ error: GatewayError) -> CodecResponse {
        .json(error.code.httpStatus, CanonicalJSON.json(error))
    }
}
