import Dialects
import HTTPTypes
import Testing

@Suite("HTTPFields.replaceOrAppend")
struct HTTPFieldsTests {
    @Test("a field of a new name is appended; one of a present name replaces every field of that name, in place")
    func replaceOrAppend() {
        var fields: HTTPFields = [.contentType: "text/plain", .contentLength: "1"]
        fields.append(HTTPField(name: .contentType, value: "second"))
        fields.replaceOrAppend(HTTPField(name: .contentType, value: "application/json"))
        fields.replaceOrAppend(HTTPField(name: .requestID, value: "r-1"))
        #expect(fields.map(\.name) == [.contentType, .contentLength, .requestID])
        #expect(fields[values: .contentType] == ["application/json"])
        #expect(fields[.requestID] == "r-1")
        // As the subscript would have it.
        var bySubscript: HTTPFields = [.contentType: "text/plain", .contentLength: "1"]
        bySubscript.append(HTTPField(name: .contentType, value: "second"))
        bySubscript[.contentType] = "application/json"
        bySubscript[.requestID] = "r-1"
        #expect(fields == bySubscript)
    }

    @Test("a JSON answer carries its content type once")
    func jsonContentType() {
        let response = CodecResponse.json(.ok, bytes: Array("{}".utf8))
        #expect(response.headers[values: .contentType] == ["application/json; charset=utf-8"])
        #expect(response.headers.count == 1)
    }
}
