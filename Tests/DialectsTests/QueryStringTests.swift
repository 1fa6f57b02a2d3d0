import Testing

@testable import Dialects

@Suite struct QueryStringTests {
    static func pairs(_ text: String) -> [String] {
        QueryString.parse(text).map { "\($0.name)=\($0.value)" }
    }

    @Test func pairsInOrderWithEscapesDecoded() {
        #expect(Self.pairs("location=shop-floor") == ["location=shop-floor"])
        #expect(Self.pairs("a=1&b=x+y&c=%C3%A9t%C3%A9&d") == ["a=1", "b=x y", "c=été", "d="])
        // A value may hold `=`; only the first one cuts.
        #expect(Self.pairs("filter=a=b") == ["filter=a=b"])
        #expect(Self.pairs("%26=%3D&n%20m=v") == ["&==", "n m=v"])
    }

    @Test func emptyPairsAreSkipped() {
        #expect(Self.pairs("") == [])
        #expect(Self.pairs("&&a=1&&") == ["a=1"])
        #expect(Self.pairs("=v&k=") == ["=v", "k="])
    }

    @Test func invalidEscapesAreKeptAsWritten() {
        #expect(Self.pairs("a=%&b=%4&c=%zz&d=100%") == ["a=%", "b=%4", "c=%zz", "d=100%"])
        // A byte that is not UTF-8 becomes U+FFFD, never a crash.
        #expect(Self.pairs("a=%FF") == ["a=\u{FFFD}"])
    }

    @Test func cutsOnBytesNotCharacters() {
        // "&" followed by a combining accent is one Character but two separators' worth of bytes:
        // the pair still ends at the "&".
        #expect(Self.pairs("a=1&\u{301}b=2") == ["a=1", "\u{301}b=2"])
        #expect(Self.pairs("é=ü&ß") == ["é=ü", "ß="])
    }

    @Test func targetSplitsAtTheFirstQuestionMark() {
        let full = QueryString.split(target: "/stockgate/v1/balances?location=a?b&x=1")
        #expect(full.path == "/stockgate/v1/balances")
        #expect(full.query == "location=a?b&x=1")
        #expect(Self.pairs(String(full.query)) == ["location=a?b", "x=1"])
        let bare = QueryString.split(target: "/healthz")
        #expect(bare.path == "/healthz" && bare.query.isEmpty)
        let empty = QueryString.split(target: "/p?")
        #expect(empty.path == "/p" && empty.query.isEmpty)
    }

    @Test func partOfALongerTextParsesTheSame() {
        let text = "x?a=1&b=%41"
        let query = text[text.index(text.startIndex, offsetBy: 2)...]
        #expect(QueryString.parse(query).map { "\($0.name)=\($0.value)" } == ["a=1", "b=A"])
    }
}
