/// Values by catalog column name, found by a scan of the names rather than by hashing.
///
/// A catalog has about ten columns. Comparing a name's UTF-8 length, then its bytes when the
/// lengths match, against each costs less than hashing it once: SipHash over a 19-byte name and
/// its finalization were ~400 instructions a lookup, and a forwarded write made ~15 such lookups
/// (callgrind, BENCHMARKS.md).
struct ColumnList<Value> {
    private(set) var names: [String] = []
    private(set) var values: [Value] = []

    init() {}

    /// The entries of `dictionary`, in no particular order (each name appears once).
    init(_ dictionary: [String: Value]) {
        names.reserveCapacity(dictionary.count)
        values.reserveCapacity(dictionary.count)
        for (name, value) in dictionary {
            names.append(name)
            values.append(value)
        }
    }

    /// The position of `name`, nil when absent.
    func index(of name: String) -> Int? {
        let length = name.utf8.count
        for index in names.indices where names[index].utf8.count == length && names[index] == name {
            return index
        }
        return nil
    }

    subscript(name: String) -> Value? {
        index(of: name).map { values[$0] }
    }

    /// Changes the value of `name`, adding it with `initial()` first when absent.
    mutating func update(_ name: String, initial: () -> Value, _ change: (inout Value) -> Void) {
        let index: Int
        if let found = self.index(of: name) {
            index = found
        } else {
            names.append(name)
            values.append(initial())
            index = values.count - 1
        }
        change(&values[index])
    }
}

extension ColumnList: Sendable where Value: Sendable {}
