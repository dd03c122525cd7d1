"""A small CloudFormation evaluator: parameters, conditions and the intrinsic functions the
templates use, resolved against the resources a stack actually created.

moto creates most of a stack's resources but skips the types it has no model for (and some
properties of the types it has). For those, the test reads the properties CloudFormation would
give them: this module evaluates them with the stack's parameters and with the physical ids and
attributes of the resources moto created (`ref` and `getatt` callbacks). Its results are checked
against moto's own evaluation wherever both exist (which resources exist, every Output).
"""

import re

NO_VALUE = object()


class Unresolvable(Exception):
    pass


def parameter_values(template, given):
    """Every parameter's value: given, else its default (as CloudFormation resolves them)."""
    values = {}
    for name, spec in template.get("Parameters", {}).items():
        if name in given:
            value = given[name]
        elif "Default" in spec:
            value = spec["Default"]
        else:
            raise Unresolvable(f"parameter {name} has no value and no default")
        value = str(value) if not isinstance(value, list) else value
        if spec["Type"] == "CommaDelimitedList" and not isinstance(value, list):
            value = value.split(",")
        values[name] = value
    return values


class Evaluator:
    def __init__(self, template, parameters, *, region, account, partition="aws",
                 stack_name="stack", ref=None, getatt=None, url_suffix="amazonaws.com"):
        self.template = template
        self.params = parameter_values(template, parameters)
        self.pseudo = {
            "AWS::Region": region,
            "AWS::AccountId": account,
            "AWS::Partition": partition,
            "AWS::StackName": stack_name,
            "AWS::URLSuffix": url_suffix,
        }
        self._ref = ref
        self._getatt = getatt
        self._conditions = {}

    # -- conditions
    def condition(self, name):
        if name not in self._conditions:
            self._conditions[name] = bool(self.resolve(self.template["Conditions"][name]))
        return self._conditions[name]

    def resource_exists(self, logical_id):
        cond = self.template["Resources"][logical_id].get("Condition")
        return cond is None or self.condition(cond)

    def output_exists(self, key):
        cond = self.template["Outputs"][key].get("Condition")
        return cond is None or self.condition(cond)

    # -- values
    def ref(self, name):
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        if name in self.template.get("Resources", {}):
            if not self.resource_exists(name):
                raise Unresolvable(f"Ref {name}: the resource is not created")
            if self._ref is None:
                raise Unresolvable(f"Ref {name}: no stack to resolve it against")
            return self._ref(name)
        raise Unresolvable(f"Ref {name}: unknown name")

    def getatt(self, name, attr):
        if not self.resource_exists(name):
            raise Unresolvable(f"GetAtt {name}.{attr}: the resource is not created")
        if self._getatt is None:
            raise Unresolvable(f"GetAtt {name}.{attr}: no stack to resolve it against")
        return self._getatt(name, attr)

    def sub(self, text, variables):
        def one(m):
            expr = m.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"
            if expr in variables:
                value = variables[expr]
            elif "." in expr and not expr.startswith("AWS::"):
                value = self.getatt(*expr.split(".", 1))
            else:
                value = self.ref(expr)
            if isinstance(value, list) or value is NO_VALUE:
                raise Unresolvable(f"Fn::Sub ${{{expr}}} is not a string")
            return str(value)

        return re.sub(r"\$\{([^}]*)\}", one, text)

    def resolve(self, node):
        if isinstance(node, list):
            out = [self.resolve(x) for x in node]
            return [x for x in out if x is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition" and isinstance(arg, str):
                return self.condition(arg)
            if key == "Fn::GetAtt":
                name, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.getatt(name, attr)
            if key == "Fn::If":
                cond, yes, no = arg
                return self.resolve(yes if self.condition(cond) else no)
            if key == "Fn::Equals":
                a, b = (self.resolve(x) for x in arg)
                return str(a) == str(b)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(x) for x in arg)
            if key == "Fn::Or":
                return any(self.resolve(x) for x in arg)
            if key == "Fn::Join":
                sep, items = arg
                items = self.resolve(items)
                return sep.join(str(x) for x in items)
            if key == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(sep)
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Sub":
                if isinstance(arg, list):
                    text, variables = arg
                    variables = {k: self.resolve(v) for k, v in variables.items()}
                else:
                    text, variables = arg, {}
                return self.sub(text, variables)
            if key == "Fn::FindInMap":
                mapping, top, second = (self.resolve(x) for x in arg)
                return self.template["Mappings"][mapping][str(top)][str(second)]
            if key.startswith("Fn::"):
                raise Unresolvable(f"{key} is not supported by this evaluator")
        out = {}
        for k, v in node.items():
            v = self.resolve(v)
            if v is not NO_VALUE:
                out[k] = v
        return out

    def properties(self, logical_id):
        """A created resource's properties, resolved."""
        if not self.resource_exists(logical_id):
            raise Unresolvable(f"{logical_id} is not created")
        return self.resolve(self.template["Resources"][logical_id].get("Properties", {}))

    def created(self):
        """The logical ids of the resources whose condition holds."""
        return [r for r in self.template["Resources"] if self.resource_exists(r)]
