import CLua
import CZstd
import Testing

/// The system libraries are found through pkg-config and link.
@Suite("System libraries")
struct SystemLibraryTests {
    @Test("Lua 5.4 runs a chunk")
    func lua() throws {
        let state = try #require(luaL_newstate())
        defer { lua_close(state) }
        luaL_openlibs(state)
        #expect(luaL_loadstring(state, "return 6 * 7") == LUA_OK)
        #expect(lua_pcallk(state, 0, 1, 0, 0, nil) == LUA_OK)
        #expect(lua_tointegerx(state, -1, nil) == 42)
    }

    @Test("zstd is at least 1.5")
    func zstd() {
        #expect(ZSTD_versionNumber() >= 10_500)
    }
}
