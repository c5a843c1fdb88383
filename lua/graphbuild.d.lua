---@meta graphbuild
-- graphbuild.d.lua - LuaLS (lua-language-server) definitions of the stack.lua
-- DSL, for completion and type checks in editors. Not loaded by graphbuild.
-- Use: add this file to "workspace.library" in .luarc.json next to stack.lua.
-- The reference is docs/stack-lua.md; tests/props/docs.sh checks that every
-- key lua/prelude.lua accepts is a ---@field of the matching class here.

---An image handle (returned by `image "NAME" { ... }`). Opaque.
---@class Image

---A rootfs handle (returned by `rootfs { ... }`): usable as an image's `from`
---or a copy's `from`, not as a service's `image`. Opaque.
---@class Rootfs

---A build step (returned by run, copy, env, workdir, user). Opaque.
---@class Step

---A health probe (returned by tcp, http, exec, log). Opaque.
---@class Probe

---A duration: a number of seconds, or a string like "250ms", "2s", "1.5s", "1m30s".
---@alias Duration number|string

---A command: a string runs under /bin/sh -c; a list of strings is the exec form.
---@alias Command string|string[]

---NAME = value; numbers are converted to strings.
---@alias StringMap table<string, string|number>

---A parent image: a handle, a registry reference ("postgres:15"), or a rootfs.
---@alias ImageSource Image|Rootfs|string

---@alias RestartPolicy "no"|"on-failure"|"always"|"unless-stopped"|boolean

---@alias DependsCondition "started"|"healthy"|"completed"

---The body of `image "NAME" { ... }`: settings, and build steps as list items
---(a list item may also be a plain list of steps, spliced in place).
---@class ImageSpec
---@field [integer] Step|Step[]
---@field from? ImageSource The parent; required unless `dockerfile` is set.
---@field cmd? Command The image's default command.
---@field entrypoint? Command The image's entrypoint.
---@field env? StringMap Environment in the image config, visible to every step.
---@field workdir? string The final image's working directory.
---@field user? string The final image's user.
---@field expose? integer[] Exposed ports (1-65535).
---@field labels? StringMap Image labels.
---@field volumes? string[] Mount points in the image config (Dockerfile VOLUME), absolute paths.
---@field stop_signal? string The signal `docker stop` sends ("SIGINT", "9"; Dockerfile STOPSIGNAL).
---@field healthcheck? string|(string|integer|Duration)[] { "CMD", prog, ... }, { "CMD-SHELL", cmd }, a command string or { "NONE" }; interval/timeout/start_period/retries. Also the default probe of the image's services.
---@field context? string Directory copy sources are relative to (default "."; relative to the stack file).
---@field ignore? string[] Extra .dockerignore-syntax patterns.
---@field dockerfile? string Adoption mode: build this Dockerfile (path in the context); no steps, no `from`.
---@field args? StringMap Dockerfile build arguments (only with `dockerfile`).
---@field target? string Dockerfile stage to build (only with `dockerfile`).

---The table form of `run`: exactly one list item, the command (a string for
---the shell form, a list of strings for the exec form).
---@class RunSpec
---@field [1] string|string[]
---@field cache? string[] Absolute paths kept between builds as cache mounts, never in the image.
---@field env? StringMap Environment for this step only.
---@field network? "none"|"default" "none": the step runs without a network.
---@field secrets? table<string, string>|string[] `ID = "/abs/path"`, or a list of IDs mounted at /run/secrets/ID.

---The table form of `copy`: sources as list items.
---@class CopySpec
---@field [integer] string
---@field to? string Destination; must end in "/" with several sources; required with `from`.
---@field from? ImageSource Copy out of another image (sources are then absolute paths in it).

---The body of `rootfs { ... }`: exactly one of `tar` and `command`.
---@class RootfsSpec
---@field tar? string A tarball to import (relative to the declaring file).
---@field command? string A host command that fills the directory $out.
---@field inputs? string[] Files the command depends on (relative to the declaring file); only with `command`.
---@field epoch? string|number A free-form version; change it to force a new rootfs; only with `command`.
---@field name? string The node name (default "rootfs-" + 8 hex digits of the definition's hash).

---The body of `secret "ID" { ... }`: exactly one of `file` and `env`.
---@class SecretSpec
---@field file? string Host file holding the value (relative to the stack file's directory).
---@field env? string Environment variable holding the value.

---Options every health probe takes.
---@class ProbeOptions
---@field interval? Duration Longest gap between attempts (default "1s"; attempts start faster).
---@field timeout? Duration Time one attempt may take (default "1s").
---@field retries? integer Consecutive failures after start_period that mean unhealthy (default 3).
---@field start_period? Duration Grace time during which failures do not count (default "30s").

---@class TcpProbeSpec: ProbeOptions
---@field port integer The container port to connect to.

---@class HttpProbeSpec: ProbeOptions
---@field port integer The container port.
---@field path? string Request path, starting with "/" (default "/").
---@field status? integer Status code that means healthy (default 200).

---The argv as list items, plus probe options.
---@class ExecProbeSpec: ProbeOptions
---@field [integer] string

---One pattern (a POSIX extended regex) as the first list item, plus probe options.
---@class LogProbeSpec: ProbeOptions
---@field [1] string

---The body of `service "NAME" { ... }`.
---@class ServiceSpec
---@field image Image|string What to run: an image handle or a registry reference (required).
---@field command? Command Overrides the image's cmd.
---@field entrypoint? Command Overrides the image's entrypoint.
---@field env? StringMap Added to the image's environment.
---@field workdir? string Working directory.
---@field user? string User.
---@field ports? (string|integer)[] "HOST:CONTAINER", "IP:HOST:CONTAINER" or "CONTAINER", optionally "/tcp" or "/udp".
---@field volumes? string[] "name:/path", "./dir:/path" or "/dir:/path", optionally ":ro" or ":rw".
---@field depends_on? string[]|table<string|integer, DependsCondition|string> A list of names ("started") or NAME = condition.
---@field health? Probe|false A probe: tcp, http, exec or log (default: the image's healthcheck); false: none.
---@field oneshot? boolean A job that runs to completion and must exit 0.
---@field init? boolean Run the engine's init as PID 1 (signals reach the program; zombies reaped).
---@field restart? RestartPolicy The restart policy (true = "always", false = "no"; default "no").
---@field aliases? string[] Extra DNS names on the project network.
---@field labels? StringMap Container labels.
---@field stop_timeout? Duration Wait after SIGTERM before SIGKILL (rounded up to whole seconds).
---@field stop_signal? string The signal sent first on stop (default: the image's).

---The table form of `project { "NAME", cache = ..., cache_push = ... }`.
---@class ProjectSpec
---@field [1] string The project name.
---@field cache? string The remote cache, "REGISTRY[:PORT]/REPO".
---@field cache_push? boolean Push what the cache lacks after build and up (as --push).
---@field bases? table<string, Image|Rootfs|string> Base substitutions: ["REF"] = handle, "REF2" or "scratch".

---Sets the project name (default: the stack directory's name), and with the
---table form the remote cache.
---@param name string|ProjectSpec lowercase letters, digits, '_' and '-'
function project(name) end

---Declares an image; call the result with its body: `image "app" { from = ..., ... }`.
---@param name string lowercase letters, digits, '_', '.' and '-'
---@return fun(spec: ImageSpec): Image
function image(name) end

---A run step: a shell command string, or a table { "cmd" or {argv}, cache =, env =, secrets = }.
---@param arg string|RunSpec
---@return Step
function run(arg) end

---A copy step: a path relative to the context, or a table { "src", ..., to =, from = }.
---@param arg string|CopySpec
---@return Step
function copy(arg) end

---An env step: sets variables for later steps and in the image config.
---@param vars StringMap
---@return Step
function env(vars) end

---A workdir step.
---@param path string
---@return Step
function workdir(path) end

---A user step.
---@param name string
---@return Step
function user(name) end

---Declares a base filesystem made on the host: { tar = "x.tar" } or { command = "...", inputs = {...}, epoch = "..." }.
---@param spec RootfsSpec
---@return Rootfs
function rootfs(spec) end

---Declares where a build secret's value comes from; the call returns the ID.
---@param id string letters, digits, '_', '.' and '-'
---@return fun(spec: SecretSpec): string
function secret(id) end

---Declares a service (a container); call the result with its body.
---@param name string letters, digits, '_', '.' and '-', starting with a letter or digit
---@return fun(spec: ServiceSpec)
function service(name) end

---A TCP probe: healthy when a connection to the port succeeds.
---@param arg integer|TcpProbeSpec
---@return Probe
function tcp(arg) end

---An HTTP probe: healthy when GET path answers `status`.
---@param arg HttpProbeSpec
---@return Probe
function http(arg) end

---An exec probe: healthy when the command exits 0 in the container (a string runs under /bin/sh -c).
---@param arg string|ExecProbeSpec
---@return Probe
function exec(arg) end

---A log probe: healthy when an output line matches the regex.
---@param arg string|LogProbeSpec
---@return Probe
function log(arg) end

---Returns a file's text (path relative to the calling file's directory).
---@param path string
---@return string
function read(path) end

---Loads a remote module pinned by its SHA-256 (fetched once, then cached; see docs/import.md).
---@param url string "https://host/path/mod.lua#sha256=HEX" (64 lowercase hex digits)
---@return any value what the module returns (true if nothing)
function import(url) end

---The --set key=value pairs of the command line (read-only).
---@type table<string, string>
vars = {}
