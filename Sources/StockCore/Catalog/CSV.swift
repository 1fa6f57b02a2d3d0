/// A minimal RFC 4180 reader: comma separated, double-quoted fields with `""` escapes,
/// CRLF or LF line ends. Each row carries the line number it starts on.
public enum CSV {
    public struct Row: Sendable, Equatable {
        public var line: Int
        public var cells: [String]
    }

    public struct ParseError: Error, Sendable, Equatable {
        public var line: Int
        public var message: String
    }

    public static func parse(_ text: String) throws(ParseError) -> [Row] {
        var rows: [Row] = []
        var cells: [String] = []
        var cell: [UInt8] = []
        var line = 1
        var rowLine = 1
        var inQuotes = false
        var quotedCell = false
        let bytes = Array(text.utf8)
        var index = 0
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { index = 3 }

        func finishCell() {
            cells.append(String(decoding: cell, as: UTF8.self))
            cell.removeAll(keepingCapacity: true)
            quotedCell = false
        }
        func finishRow() {
            finishCell()
            // A blank line is not a row.
            if !(cells.count == 1 && cells[0].allSatisfy(\.isWhitespace)) {
                rows.append(Row(line: rowLine, cells: cells))
            }
            cells.removeAll()
        }

        while index < bytes.count {
            let byte = bytes[index]
            if inQuotes {
                if byte == UInt8(ascii: "\"") {
                    if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "\"") {
                        cell.append(byte)
                        index += 2
                        continue
                    }
                    inQuotes = false
                } else {
                    if byte == 0x0A { line += 1 }
                    cell.append(byte)
                }
                index += 1
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                guard cell.allSatisfy({ $0 == 0x20 }), !quotedCell else {
                    throw ParseError(line: line, message: "a quote inside an unquoted field")
                }
                cell.removeAll()
                inQuotes = true
                quotedCell = true
            case UInt8(ascii: ","):
                finishCell()
            case 0x0D:
                break
            case 0x0A:
                finishRow()
                line += 1
                rowLine = line
            default:
                if quotedCell && byte != 0x20 {
                    throw ParseError(line: line, message: "text after a closing quote")
                }
                cell.append(byte)
            }
            index += 1
        }
        if inQuotes { throw ParseError(line: rowLine, message: "unterminated quoted field") }
        if !cell.isEmpty || !cells.isEmpty { finishRow() }
        return rows
    }
}
