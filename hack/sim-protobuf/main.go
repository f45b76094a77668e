// Command sim-protobuf writes lws/sim/protobuf_types.json: the protobuf field numbers of the Kubernetes kinds
// the embedded cluster serves, read with Go reflection from the `protobuf` struct tags of k8s.io/api, beside
// each field's JSON name, Go type and omitempty.
//
// lws.sim.protobuf decodes request bodies in Kubernetes' protobuf encoding (kubectl's typed clients send
// them) with this table into the JSON the server works on. Regenerate after moving k8s.io/api in go.mod:
//
//	cd hack/sim-protobuf && go run . > ../../lws/sim/protobuf_types.json
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Types whose protobuf form is their own small message and whose JSON form is a scalar.
var special = map[reflect.Type]string{
	reflect.TypeOf(metav1.Time{}):          "@Time",
	reflect.TypeOf(metav1.MicroTime{}):     "@MicroTime",
	reflect.TypeOf(metav1.Duration{}):      "@Duration",
	reflect.TypeOf(resource.Quantity{}):    "@Quantity",
	reflect.TypeOf(intstr.IntOrString{}):   "@IntOrString",
	reflect.TypeOf(runtime.RawExtension{}): "@RawExtension",
}

// field: protobuf number, JSON name, type expression, flags ("omitempty", "inline").
type field struct {
	Number int
	JSON   string
	Type   string
	Flags  string
}

var types = map[string][]field{}

func name(t reflect.Type) string {
	p := t.PkgPath()
	for _, prefix := range []string{"k8s.io/api/", "k8s.io/apimachinery/pkg/apis/", "k8s.io/apimachinery/pkg/"} {
		p = strings.TrimPrefix(p, prefix)
	}
	return p + "." + t.Name()
}

// ref writes a type expression: *T, []T, map[string]T, bytes, a scalar kind, a struct name, or @Name.
func ref(t reflect.Type) string {
	if s, ok := special[t]; ok {
		return s
	}
	switch t.Kind() {
	case reflect.Pointer:
		return "*" + ref(t.Elem())
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "bytes"
		}
		return "[]" + ref(t.Elem())
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			panic("map key " + t.String())
		}
		return "map[string]" + ref(t.Elem())
	case reflect.Struct:
		n := name(t)
		if _, seen := types[n]; !seen {
			types[n] = nil // break cycles
			types[n] = fields(t)
		}
		return n
	case reflect.String, reflect.Bool, reflect.Int32, reflect.Int64, reflect.Int, reflect.Float64:
		return t.Kind().String()
	}
	panic("unsupported kind " + t.String())
}

func fields(t reflect.Type) []field {
	out := []field{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("protobuf")
		if tag == "" || !f.IsExported() {
			continue // TypeMeta and other fields that protobuf does not carry
		}
		number, err := strconv.Atoi(strings.Split(tag, ",")[1])
		if err != nil {
			panic("protobuf tag " + tag + " in " + t.String())
		}
		parts := strings.Split(f.Tag.Get("json"), ",")
		flags := []string{}
		for _, option := range parts[1:] {
			if option == "omitempty" || option == "inline" {
				flags = append(flags, option)
			}
		}
		jsonName := parts[0]
		if f.Anonymous && jsonName == "" {
			flags = append(flags, "inline")
		}
		if jsonName == "" {
			jsonName = f.Name
		}
		out = append(out, field{number, jsonName, ref(f.Type), strings.Join(flags, ",")})
	}
	return out
}

func main() {
	kinds := map[string]any{
		"v1/Namespace":                             corev1.Namespace{},
		"v1/ConfigMap":                             corev1.ConfigMap{},
		"v1/Secret":                                corev1.Secret{},
		"v1/ServiceAccount":                        corev1.ServiceAccount{},
		"v1/Service":                               corev1.Service{},
		"v1/Pod":                                   corev1.Pod{},
		"v1/Endpoints":                             corev1.Endpoints{},
		"v1/Event":                                 corev1.Event{},
		"v1/Node":                                  corev1.Node{},
		"v1/PersistentVolumeClaim":                 corev1.PersistentVolumeClaim{},
		"v1/PersistentVolume":                      corev1.PersistentVolume{},
		"apps/v1/Deployment":                       appsv1.Deployment{},
		"apps/v1/ReplicaSet":                       appsv1.ReplicaSet{},
		"apps/v1/StatefulSet":                      appsv1.StatefulSet{},
		"apps/v1/DaemonSet":                        appsv1.DaemonSet{},
		"apps/v1/ControllerRevision":               appsv1.ControllerRevision{},
		"events.k8s.io/v1/Event":                   eventsv1.Event{},
		"coordination.k8s.io/v1/Lease":             coordinationv1.Lease{},
		"rbac.authorization.k8s.io/v1/Role":        rbacv1.Role{},
		"rbac.authorization.k8s.io/v1/RoleBinding": rbacv1.RoleBinding{},
		"rbac.authorization.k8s.io/v1/ClusterRole": rbacv1.ClusterRole{},
		"rbac.authorization.k8s.io/v1/ClusterRoleBinding":                rbacv1.ClusterRoleBinding{},
		"admissionregistration.k8s.io/v1/MutatingWebhookConfiguration":   admissionregistrationv1.MutatingWebhookConfiguration{},
		"admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration": admissionregistrationv1.ValidatingWebhookConfiguration{},
		"policy/v1/PodDisruptionBudget":                                  policyv1.PodDisruptionBudget{},
		"policy/v1/Eviction":                                             policyv1.Eviction{},
		"autoscaling/v2/HorizontalPodAutoscaler":                         autoscalingv2.HorizontalPodAutoscaler{},
		"scheduling.k8s.io/v1/PriorityClass":                             schedulingv1.PriorityClass{},
		"discovery.k8s.io/v1/EndpointSlice":                              discoveryv1.EndpointSlice{},
	}
	roots := map[string]string{}
	for kind, value := range kinds {
		roots[kind] = ref(reflect.TypeOf(value))
	}
	source := "k8s.io/api"
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "k8s.io/api" {
				source += " " + dep.Version
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "{\n  \"source\": %q,\n  \"kinds\": {\n", source)
	kindNames := make([]string, 0, len(roots))
	for k := range roots {
		kindNames = append(kindNames, k)
	}
	sort.Strings(kindNames)
	for i, k := range kindNames {
		sep := ","
		if i == len(kindNames)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "    %q: %q%s\n", k, roots[k], sep)
	}
	b.WriteString("  },\n  \"types\": {\n")
	names := make([]string, 0, len(types))
	for n := range types {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		row := make([]string, 0, len(types[n]))
		for _, f := range types[n] {
			enc, _ := json.Marshal([]any{f.Number, f.JSON, f.Type, f.Flags})
			row = append(row, string(enc))
		}
		sep := ","
		if i == len(names)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "    %q: [%s]%s\n", n, strings.Join(row, ", "), sep)
	}
	b.WriteString("  }\n}\n")
	os.Stdout.WriteString(b.String())
}
