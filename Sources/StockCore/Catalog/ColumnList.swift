#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

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
                // memcmp: equal lengths, so both are empty or both have a base address.
                let same = bytes[index].withUnsafeBufferPointer { name in
                    query.isEmpty || memcmp(name.baseAddress!, query.baseAddress!, query.count) == 0
                }
                if same { return index }
            }
            return nil
        }
    }

    subscript(name: String) -> Value? {
        index(of: name).map { values[$0] }
    }

    /// Every name and its value, in byte order of the names.
    var entries: [(name: String, value: Value)] {
        zip(bytes, values).map { (String(decoding: $0.0, as: UTF8.self), $0.1) }
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

/// Two lists are equal when they hold the same names with the same values (their order is the
/// names' byte order, so it is the same too).
extension ColumnList: Equatable where Value: Equatable {}
