# The JSON patch (RFC 6902) of a controller Deployment for the e2e node
# (test/e2e/deploy.sh): one replica (a second one in the host's network on
# the same node would want the same ports), hostNetwork, every `--flag=:PORT` argument and the
# containerPort with that number moved to the free port $m[PORT], and the
# API server's address for the in-cluster clients ($api: its port on
# 127.0.0.1; no kube-proxy runs). Input: the Deployment as JSON.
def apienv: [{name: "KUBERNETES_SERVICE_HOST", value: "127.0.0.1"},
             {name: "KUBERNETES_SERVICE_PORT", value: $api}];
def cpath($i): "/spec/template/spec/containers/\($i)";
[
  {op: "replace", path: "/spec/replicas", value: 1},
  {op: "add", path: "/spec/template/spec/hostNetwork", value: true},
  {op: "add", path: "/spec/template/spec/dnsPolicy", value: "ClusterFirstWithHostNet"},
  (.spec.template.spec.containers | to_entries[] | .key as $i | .value as $c |
    (($c.args // []) | to_entries[] | select(.value | test("^--[a-z-]+=:[0-9]+$")) |
      {op: "replace", path: "\(cpath($i))/args/\(.key)",
       value: (.value | sub(":(?<p>[0-9]+)$"; ":\($m[.p])"))}),
    (($c.ports // []) | to_entries[] | select($m[.value.containerPort | tostring]) |
      {op: "replace", path: "\(cpath($i))/ports/\(.key)/containerPort",
       value: ($m[.value.containerPort | tostring] | tonumber)}),
    (if $c.env then (apienv[] | {op: "add", path: "\(cpath($i))/env/-", value: .})
     else {op: "add", path: "\(cpath($i))/env", value: apienv} end))
]
