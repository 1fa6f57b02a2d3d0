import StockCore
import Yams

/// The configuration file's YAML, read by the one tree reader (`TreeObject`), lines included.
extension Node: TreeNode {
    public var treeMembers: [(key: String, value: Node, line: Int?)]? {
        mapping.map { mapping in mapping.map { ($0.key.string ?? "", $0.value, $0.key.mark?.line) } }
    }
    public var treeItems: [Node]? { sequence.map(Array.init) }
    public var treeText: String? { scalar?.string }
    public var treeNumberText: String? { int != nil || float != nil ? scalar?.string : nil }
    public var treeBool: Bool? { bool }
    public var treeIsNull: Bool { null != nil }
    public var treeLine: Int? { mark?.line }
}
