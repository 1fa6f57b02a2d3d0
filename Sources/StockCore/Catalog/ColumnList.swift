/// Values by catalog column name, found by a scan of the names rather than by hashing.
///
/// A catalog has about ten columns. Comparing a name's length, then its bytes when the lengths
/// match, against each costs less than hashing it once: SipHash over a 19-byte name and its
/// finalization were ~400 instructions a lookup, and a forwarded write made ~15 such lookups
/// (callgrind, BENCHMARKS.md). Names are compared by their UTF-8 bytes (the columns are ASCII
/// names a dialect declares): `String`'s `==` on two names of the same length
/// (`zettle_variant_uuid`, `zettle_product_uuid`) took its general path, ~150 instructions. The
/// names are kept in byte order, so a lookup costs the same in every process (a dictionary's
/// order changes with its per-process seed).
struct ColumnList<Value> {
    /// Each name's UTF-8 bytes, in byte order.
    private var bytes: [[UInt8]] = []
    /// Each name's value, in the same order.
    private var values: [Value] = []

    init() {}

    /// The entries of `dictionary` (each name appears once).
    init(_ dictionary: [String: Value]) {
        let entries = dictionary.map { (Array($0.key.utf8), $0.value) }.sorted { $0.0.lexicographicallyPrecedes($1.0) }
        bytes = entries.map(\.0)
        values = entries.map(\.1)
    }

    /// The position of `name`, nil when absent.
    func index(of name: String) -> Int? {
        var name = name
        return name.withUTF8 { query in
            for index in bytes.indices where bytes[index].count == query.count {
                if bytes[index].withUnsafeBufferPointer({ Self.same($0, query) }) { return index }
            }
            return nil
        }
    }

    /// Whether two buffers of the same length hold the same bytes, compared eight at a time.
    private static func same(_ one: UnsafeBufferPointer<UInt8>, _ other: UnsafeBufferPointer<UInt8>) -> Bool {
        let count = one.count
        guard count > 0, let first = one.baseAddress, let second = other.baseAddress else { return true }
        let (left, right) = (UnsafeRawPointer(first), UnsafeRawPointer(second))
        var offset = 0
        while offset + 8 <= count {
            guard
                left.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                    == right.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            else { return false }
            offset += 8
        }
        while offset < count {
            guard one[offset] == other[offset] else { return false }
            offset += 1
        }
        return true
    }

    subscript(name: String) -> Value? {
        index(of: name).map { values[$0] }
    }

    /// Changes the value of `name`, adding it with `initial()` first when absent (in byte order).
    mutating func update(_ name: String, initial: () -> Value, _ change: (inout Value) -> Void) {
        let index: Int
        if let found = self.index(of: name) {
            index = found
        } else {
            let name = Array(name.utf8)
            index = bytes.firstIndex { name.lexicographicallyPrecedes($0) } ?? bytes.count
            bytes.insert(name, at: index)
            values.insert(initial(), at: index)
        }
        change(&values[index])
    }
}

extension ColumnList: Sendable where Value: Sendable {}
