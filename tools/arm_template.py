"""arm_template: an offline reader of ARM templates, for tools/check-template and
tools/render-customdata (python3 from Debian, nothing else).

It parses the template language ("[expression]" strings), knows the names of ARM's
functions, and evaluates a template for a set of parameters the way Azure Resource
Manager does as far as an offline check needs: variables (with copy), conditions,
resource names and ids, nested deployments (inner and outer scope), every
resourceId()/subscriptionResourceId()/extensionResourceId()/reference() computed on
the way, and the properties. What cannot be known offline is a stand-in, and says so:
uniqueString() and guid() hash with SHA-256 (not Azure's algorithm, but just as
deterministic), reference() answers with a Reference whose properties are
placeholders (a GUID for principalId/clientId, a TEST-NET address for ipAddress).
"""

import base64
import hashlib
import ipaddress
import json
import re

# Every function of the ARM template language (learn.microsoft.com, "Template
# functions"), lower case: a name outside this list is an error in the template.
ARM_FUNCTIONS = set("""
array concat contains createArray empty first indexOf intersection items join last lastIndexOf
length max min range skip take union filter map reduce sort toObject flatten mapValues
coalesce equals greater greaterOrEquals less lessOrEquals
dateTimeAdd dateTimeFromEpoch dateTimeToEpoch utcNow
deployer deployment environment parameters variables
json null
and bool false if not or true
add div mod mul sub int float
createObject objectKeys shallowMerge tryGet
cidrHost cidrSubnet parseCidr
extensionResourceId list listKeys listSecrets listAccountSas managementGroup managementGroupResourceId
pickZones providers reference references resourceGroup resourceId subscription subscriptionResourceId
tenant tenantResourceId
base64 base64ToJson base64ToString dataUri dataUriToString endsWith format guid lastIndexOf
newGuid padLeft replace split startsWith string substring toLower toUpper trim uniqueString uri
uriComponent uriComponentToString copyIndex
""".lower().split())


class TemplateError(Exception):
    pass


# --- the expression language -------------------------------------------------------

class Call:
    def __init__(self, name, args):
        self.name, self.args = name, args

    def __repr__(self):
        return "%s(%s)" % (self.name, ", ".join(map(repr, self.args)))


class Prop:
    def __init__(self, obj, name):
        self.obj, self.name = obj, name

    def __repr__(self):
        return "%r.%s" % (self.obj, self.name)


class Index:
    def __init__(self, obj, index):
        self.obj, self.index = obj, index

    def __repr__(self):
        return "%r[%r]" % (self.obj, self.index)


class Lit:
    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return repr(self.value)


_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+)|(?P<id>[A-Za-z_][A-Za-z0-9_]*)|(?P<p>[().,\[\]]))")


def is_expression(s):
    return isinstance(s, str) and s.startswith("[") and s.endswith("]") and not s.startswith("[[")


def parse_expression(text):
    """Parses "[...]" (the brackets included) into Call/Prop/Index/Lit nodes."""
    body = text[1:-1]
    tokens, pos = [], 0
    while pos < len(body):
        if body[pos:].strip() == "":
            break
        m = _TOKEN.match(body, pos)
        if not m:
            raise TemplateError("cannot parse %r at %r" % (text, body[pos:pos + 20]))
        pos = m.end()
        kind = m.lastgroup
        tokens.append((kind, m.group(kind)))
    i = 0

    def peek():
        return tokens[i] if i < len(tokens) else (None, None)

    def take(kind=None, value=None):
        nonlocal i
        t = peek()
        if t[0] is None or (kind and t[0] != kind) or (value and t[1] != value):
            raise TemplateError("in %r: expected %s, got %r" % (text, value or kind, t[1]))
        i += 1
        return t

    def primary():
        kind, value = peek()
        if kind == "str":
            take()
            node = Lit(value[1:-1].replace("''", "'"))
        elif kind == "num":
            take()
            node = Lit(int(value))
        elif kind == "id":
            take()
            take("p", "(")
            args = []
            if peek() != ("p", ")"):
                args.append(expr())
                while peek() == ("p", ","):
                    take()
                    args.append(expr())
            take("p", ")")
            node = Call(value, args)
        else:
            raise TemplateError("in %r: unexpected %r" % (text, value))
        while True:
            if peek() == ("p", "."):
                take()
                node = Prop(node, take("id")[1])
            elif peek() == ("p", "["):
                take()
                node = Index(node, expr())
                take("p", "]")
            else:
                return node

    def expr():
        return primary()

    node = expr()
    if i != len(tokens):
        raise TemplateError("in %r: trailing %r" % (text, tokens[i][1]))
    return node


def walk_strings(value, path=""):
    """(path, string) for every string in a JSON value, keys excluded."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from walk_strings(v, "%s.%s" % (path, k) if path else k)
    elif isinstance(value, list):
        for n, v in enumerate(value):
            yield from walk_strings(v, "%s[%d]" % (path, n))
    elif isinstance(value, str):
        yield path, value


def walk_nodes(node):
    yield node
    if isinstance(node, Call):
        for a in node.args:
            yield from walk_nodes(a)
    elif isinstance(node, Prop):
        yield from walk_nodes(node.obj)
    elif isinstance(node, Index):
        yield from walk_nodes(node.obj)
        yield from walk_nodes(node.index)


# --- evaluation --------------------------------------------------------------------

class Reference(dict):
    """What reference() answers offline: placeholders, deterministic per resource."""

    def __init__(self, target):
        super().__init__()
        self.target = target

    def get_prop(self, name):
        h = hashlib.sha256((self.target + "/" + name).encode()).hexdigest()
        low = name.lower()
        if low in ("principalid", "clientid", "tenantid"):
            return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:32])
        if low == "ipaddress":
            return "203.0.113.%d" % (int(h[:2], 16) % 254 + 1)
        r = Reference(self.target + "/" + name)
        return r


def _net_format(fmt, args):
    """ARM's format() is .NET String.Format: {N}, {{ and }}."""
    out, i = [], 0
    while i < len(fmt):
        c = fmt[i]
        if c == "{" and fmt.startswith("{{", i):
            out.append("{"), None
            i += 2
        elif c == "}" and fmt.startswith("}}", i):
            out.append("}")
            i += 2
        elif c == "{":
            j = fmt.index("}", i)
            k = int(fmt[i + 1:j].split(":")[0].split(",")[0])
            if k >= len(args):
                raise TemplateError("format(%r): no argument %d" % (fmt, k))
            out.append(_to_string(args[k]))
            i = j + 1
        elif c == "}":
            raise TemplateError("format(%r): lone }" % fmt)
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _to_string(v):
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"))
    if v is None:
        return ""
    return str(v)


def stand_in_hash(*parts):
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def unique_string(*parts):
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    h = int(stand_in_hash("uniqueString", *parts)[:16], 16)
    return "".join(alphabet[(h >> (5 * n)) & 31] for n in range(13))


def guid(*parts):
    h = stand_in_hash("guid", *parts)
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:32])


def _resource_id(prefix, rtype, names):
    segs = rtype.split("/")
    if len(segs) - 1 != len(names):
        raise TemplateError("resource id of %s needs %d names, got %d" % (rtype, len(segs) - 1, len(names)))
    out = prefix + "/providers/" + segs[0]
    for t, n in zip(segs[1:], names):
        out += "/%s/%s" % (t, n)
    return out


class Scope:
    """Where a template is deployed: subscription, resource group, location."""

    def __init__(self, subscription="00000000-0000-0000-0000-00000000aaaa", resource_group="vsensors-rg",
                 location="westeurope", deployment="vsensors", tenant="00000000-0000-0000-0000-00000000bbbb"):
        self.subscription, self.resource_group, self.location = subscription, resource_group, location
        self.deployment, self.tenant = deployment, tenant

    def rg_id(self, rg=None, sub=None):
        return "/subscriptions/%s/resourceGroups/%s" % (sub or self.subscription, rg or self.resource_group)

    def child(self, resource_group, deployment):
        return Scope(self.subscription, resource_group, self.location, deployment, self.tenant)


class Evaluator:
    """Evaluates one template (or an inner nested template) for given parameter values.

    calls records every id computed by resourceId(), subscriptionResourceId(),
    extensionResourceId() and every reference() target: (kind, id, where)."""

    def __init__(self, template, params, scope, outer=None):
        self.template, self.scope, self.outer = template, scope, outer
        self.param_defs = {k.lower(): v for k, v in template.get("parameters", {}).items()}
        self.params = {}
        self.supplied = {k.lower(): v for k, v in params.items()}
        self.var_defs = {}
        for k, v in template.get("variables", {}).items():
            if k == "copy":
                for c in v:
                    self.var_defs[c["name"].lower()] = ("copy", c)
            else:
                self.var_defs[k.lower()] = ("value", v)
        self.var_cache, self.var_busy = {}, set()
        self.copy_index = {}
        self.calls = []
        self.reference_apis = []  # (target, apiVersion, where) of every reference()
        self.where = ""

    # parameters: the supplied value or the default (which may be an expression)
    def parameter(self, name):
        key = name.lower()
        if key not in self.param_defs:
            raise TemplateError("parameters('%s'): no such parameter" % name)
        if key not in self.params:
            if key in self.supplied:
                self.params[key] = self.supplied[key]
            elif "defaultValue" in self.param_defs[key]:
                self.params[key] = self.value(self.param_defs[key]["defaultValue"])
            else:
                raise TemplateError("parameter %s has no value and no default" % name)
        return self.params[key]

    def variable(self, name):
        key = name.lower()
        if key not in self.var_defs:
            raise TemplateError("variables('%s'): no such variable" % name)
        if key in self.var_cache:
            return self.var_cache[key]
        if key in self.var_busy:
            raise TemplateError("variables('%s') refers to itself" % name)
        self.var_busy.add(key)
        kind, d = self.var_defs[key]
        if kind == "copy":
            count = self.value(d["count"])
            out = []
            for n in range(count):
                self.copy_index[d["name"].lower()] = n
                self.copy_index[""] = n
                out.append(self.value(d["input"]))
            self.copy_index.pop(d["name"].lower(), None)
            v = out
        else:
            v = self.value(d)
        self.var_busy.discard(key)
        self.var_cache[key] = v
        return v

    def value(self, v):
        """A JSON value with every expression string evaluated."""
        if isinstance(v, dict):
            out = {}
            for k, x in v.items():
                if k == "copy" and isinstance(x, list):
                    for c in x:
                        items = []
                        for n in range(self.value(c["count"])):
                            self.copy_index[c["name"].lower()] = n
                            items.append(self.value(c["input"]))
                        out[c["name"]] = items
                    continue
                out[k] = self.value(x)
            return out
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if isinstance(v, str):
            if v.startswith("[["):
                return v[1:]
            if is_expression(v):
                return self.eval(parse_expression(v))
        return v

    def eval(self, node):
        if isinstance(node, Lit):
            return node.value
        if isinstance(node, Prop):
            obj = self.eval(node.obj)
            if isinstance(obj, Reference):
                return obj.get_prop(node.name)
            if not isinstance(obj, dict):
                raise TemplateError("%r: .%s of a %s" % (node, node.name, type(obj).__name__))
            for k in obj:
                if k.lower() == node.name.lower():
                    return obj[k]
            raise TemplateError("%r: no property %s" % (node, node.name))
        if isinstance(node, Index):
            obj, idx = self.eval(node.obj), self.eval(node.index)
            if isinstance(obj, Reference):
                return obj.get_prop(str(idx))
            if isinstance(obj, list):
                return obj[idx]
            if isinstance(obj, dict):
                for k in obj:
                    if k.lower() == str(idx).lower():
                        return obj[k]
            raise TemplateError("%r: no [%r]" % (node, idx))
        name = node.name.lower()
        if name not in ARM_FUNCTIONS:
            raise TemplateError("unknown function %s()" % node.name)
        if name == "if":  # only the branch taken is evaluated, as in ARM
            return self.eval(node.args[1] if self.eval(node.args[0]) else node.args[2])
        args = [self.eval(a) for a in node.args]
        f = getattr(self, "f_" + name, None)
        if f is None:
            raise TemplateError("function %s() is not implemented by tools/arm_template.py" % node.name)
        return f(*args)

    # --- the functions ---
    def f_parameters(self, n): return self.parameter(n)
    def f_variables(self, n): return self.variable(n)

    def f_resourcegroup(self):
        return {"id": self.scope.rg_id(), "name": self.scope.resource_group, "location": self.scope.location,
                "type": "Microsoft.Resources/resourceGroups", "properties": {}}

    def f_subscription(self):
        return {"id": "/subscriptions/" + self.scope.subscription, "subscriptionId": self.scope.subscription,
                "tenantId": self.scope.tenant, "displayName": "offline"}

    def f_deployment(self):
        return {"name": self.scope.deployment, "properties": {}}

    def f_environment(self):
        return {"name": "AzureCloud", "suffixes": {"keyvaultDns": ".vault.azure.net", "storage": "core.windows.net",
                                                   "acrLoginServer": ".azurecr.io"},
                "resourceManager": "https://management.azure.com/"}

    def _record(self, kind, rid):
        self.calls.append((kind, rid, self.where))
        return rid

    def f_resourceid(self, *a):
        a = list(a)
        k = next((n for n, x in enumerate(a) if isinstance(x, str) and "/" in x), None)
        if k is None or k > 2:
            raise TemplateError("resourceId%r: no resource type" % (tuple(a),))
        sub = a[0] if k == 2 else self.scope.subscription
        rg = a[k - 1] if k >= 1 else self.scope.resource_group
        return self._record("resourceId", _resource_id(self.scope.rg_id(rg, sub), a[k], a[k + 1:]))

    def f_subscriptionresourceid(self, *a):
        a = list(a)
        if "/" in a[0]:
            sub, rest = self.scope.subscription, a
        else:
            sub, rest = a[0], a[1:]
        return self._record("subscriptionResourceId", _resource_id("/subscriptions/" + sub, rest[0], rest[1:]))

    def f_extensionresourceid(self, base, rtype, *names):
        return self._record("extensionResourceId", _resource_id(base, rtype, list(names)))

    def f_reference(self, target, api=None, full=None):
        if "/" not in target:
            raise TemplateError("reference('%s'): use a resource id" % target)
        self._record("reference", target)
        self.reference_apis.append((target, api, self.where))
        return Reference(target)

    def f_format(self, fmt, *a): return _net_format(fmt, a)

    def f_concat(self, *a):
        if a and all(isinstance(x, list) for x in a):
            return [y for x in a for y in x]
        return "".join(_to_string(x) for x in a)

    def f_createarray(self, *a): return list(a)

    def f_createobject(self, *a):
        if len(a) % 2:
            raise TemplateError("createObject: odd number of arguments")
        return {a[n]: a[n + 1] for n in range(0, len(a), 2)}

    def f_equals(self, a, b): return a == b
    def f_not(self, a): return not a
    def f_and(self, *a): return all(a)
    def f_or(self, *a): return any(a)
    def f_true(self): return True
    def f_false(self): return False
    def f_null(self): return None
    def f_empty(self, a): return a is None or len(a) == 0
    def f_tolower(self, s): return s.lower()
    def f_toupper(self, s): return s.upper()
    def f_take(self, s, n): return s[:max(n, 0)]
    def f_skip(self, s, n): return s[max(n, 0):]
    def f_split(self, s, d): return s.split(d)
    def f_replace(self, s, a, b): return s.replace(a, b)
    def f_length(self, a): return len(a)
    def f_first(self, a): return a[0]
    def f_last(self, a): return a[-1]
    def f_contains(self, a, b): return b in a
    def f_startswith(self, a, b): return a.lower().startswith(b.lower())
    def f_endswith(self, a, b): return a.lower().endswith(b.lower())
    def f_string(self, a): return a if isinstance(a, str) else _to_string(a)
    def f_int(self, a): return int(a)
    def f_bool(self, a): return a if isinstance(a, bool) else str(a).lower() == "true"
    def f_max(self, *a): return max(a[0]) if len(a) == 1 and isinstance(a[0], list) else max(a)
    def f_min(self, *a): return min(a[0]) if len(a) == 1 and isinstance(a[0], list) else min(a)
    def f_greater(self, a, b): return a > b
    def f_greaterorequals(self, a, b): return a >= b
    def f_less(self, a, b): return a < b
    def f_lessorequals(self, a, b): return a <= b
    def f_add(self, a, b): return a + b
    def f_sub(self, a, b): return a - b
    def f_mul(self, a, b): return a * b
    def f_div(self, a, b): return a // b
    def f_mod(self, a, b): return a % b
    def f_base64(self, s): return base64.b64encode(s.encode()).decode()
    def f_uniquestring(self, *a): return unique_string(*a)
    def f_guid(self, *a): return guid(*a)
    def f_coalesce(self, *a): return next((x for x in a if x is not None), None)

    def f_union(self, *a):
        if all(isinstance(x, list) for x in a):
            out = []
            for x in a:
                for y in x:
                    if y not in out:
                        out.append(y)
            return out
        out = {}
        for x in a:
            out.update(x)
        return out

    def f_cidrhost(self, cidr, n):
        net = ipaddress.ip_network(cidr, strict=False)
        # ARM's cidrHost skips the network address: host 0 is the first usable one.
        return str(net.network_address + n + 1)

    def f_copyindex(self, *a):
        name, offset = "", 0
        for x in a:
            if isinstance(x, str):
                name = x.lower()
            else:
                offset = x
        if name not in self.copy_index:
            raise TemplateError("copyIndex(%s) outside its copy loop" % name)
        return self.copy_index[name] + offset


# --- a whole deployment ------------------------------------------------------------

class Resource:
    """A resource of the evaluated deployment."""

    def __init__(self, decl, ev, parent_deployment=None):
        self.decl, self.ev, self.parent_deployment = decl, ev, parent_deployment
        self.type = decl["type"]
        ev.where = "%s condition" % self.type
        self.condition = bool(ev.value(decl.get("condition", True)))
        ev.where = "%s name" % self.type
        self.name = ev.value(decl["name"])
        self.where = "%s '%s'" % (self.type, self.name)
        ev.where = self.where
        self.rg = ev.value(decl["resourceGroup"]) if "resourceGroup" in decl else ev.scope.resource_group
        names = self.name.split("/")
        if "scope" in decl:
            scope = ev.value(decl["scope"])
            base = scope if scope.startswith("/") else _resource_id(ev.scope.rg_id(), "/".join(scope.split("/")[0:1] + scope.split("/")[1::2]), scope.split("/")[2::2])
            self.id = _resource_id(base, self.type, names)
        else:
            self.id = _resource_id(ev.scope.rg_id(self.rg), self.type, names)
        # roleDefinitions are subscription objects, whichever scope creates them
        self.aliases = {self.id.lower()}
        if self.type.lower() == "microsoft.authorization/roledefinitions":
            self.aliases.add(_resource_id("/subscriptions/" + ev.scope.subscription, self.type, names).lower())
        self.depends_on = []
        self.properties = None
        self.inner = None  # the Deployment of a nested template


class Deployment:
    """A template evaluated for one parameter set: its resources (with nested ones)."""

    def __init__(self, template, params, scope=None, resource_group_level=True):
        self.scope = scope or Scope()
        self.template = template
        self.ev = Evaluator(template, params, self.scope)
        self.resources = []   # top level
        self.all = []         # with the resources of nested templates
        self.outputs = {}
        self._evaluate()

    def _evaluate(self):
        ev = self.ev
        for decl in self.template.get("resources", []):
            if "copy" in decl:
                raise TemplateError("resource copy loops are not supported by tools/arm_template.py")
            r = Resource(decl, ev)
            self.resources.append(r)
            self.all.append(r)
            ev.where = r.where + " dependsOn"
            r.depends_on = [ev.value(d) for d in decl.get("dependsOn", [])]
            if not r.condition:
                continue
            ev.where = r.where
            for key in ("location", "tags", "sku", "kind", "zones", "identity"):
                if key in decl:
                    setattr(r, key, ev.value(decl[key]))
            if r.type.lower() == "microsoft.resources/deployments":
                props = decl["properties"]
                inner_scope = (props.get("expressionEvaluationOptions") or {}).get("scope", "outer").lower()
                rest = {k: v for k, v in props.items() if k not in ("template",)}
                if inner_scope == "inner":
                    r.properties = ev.value(rest)
                    values = {k: v.get("value") for k, v in (r.properties.get("parameters") or {}).items()}
                    r.inner = Deployment(props["template"], values, self.scope.child(r.rg, r.name))
                else:
                    r.properties = ev.value(rest)
                    r.inner = OuterNested(props["template"], ev, self.scope.child(r.rg, r.name))
                for x in r.inner.all:
                    x.parent_deployment = r
                    self.all.append(x)
                self.ev.calls.extend(r.inner.calls())
            else:
                r.properties = ev.value(decl.get("properties", {}))
        for k, o in self.template.get("outputs", {}).items():
            ev.where = "output " + k
            if ev.value(o.get("condition", True)):
                self.outputs[k] = ev.value(o["value"])

    def calls(self):
        return self.ev.calls

    def resource(self, rtype, name=None):
        out = [r for r in self.all if r.type.lower() == rtype.lower() and (name is None or r.name == name)]
        return out


class OuterNested:
    """A nested template with the default outer scope: its expressions are evaluated
    in the parent, its resources are deployed in the nested deployment's group."""

    def __init__(self, template, ev, scope):
        self.all = []
        self._calls = []
        start = len(ev.calls)
        for decl in template.get("resources", []):
            r = Resource(decl, ev)
            r.id = _resource_id(scope.rg_id(r.rg if "resourceGroup" in decl else scope.resource_group),
                                r.type, r.name.split("/"))
            r.aliases = {r.id.lower()}
            r.depends_on = [ev.value(d) for d in decl.get("dependsOn", [])]
            if r.condition:
                r.properties = ev.value(decl.get("properties", {}))
            self.all.append(r)
        self._calls = ev.calls[start:]
        del ev.calls[start:]

    def calls(self):
        return self._calls


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)
