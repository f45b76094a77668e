// Command go-types writes lws/k8s/go_types.json: how Go's encoding/json sees the Kubernetes types that a
// LeaderWorkerSet template embeds (field order, JSON names, omitempty/omitzero, custom marshalers).
//
// lws.k8s.go_json re-encodes objects with this table byte for byte as a Go controller would, which the
// DisaggregatedSet revision hash needs. Regenerate after moving k8s.io/api in go.mod:
//
//	cd hack/go-types && go run . > ../../lws/k8s/go_types.json
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"runtime/debug"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

var marshaler = reflect.TypeOf((*json.Marshaler)(nil)).Elem()

var types = map[string][][3]string{}

// name is the package path relative to its module's API root plus the type name, e.g. core/v1.Container.
func name(t reflect.Type) string {
	p := t.PkgPath()
	for _, prefix := range []string{"k8s.io/api/", "k8s.io/apimachinery/pkg/apis/", "k8s.io/apimachinery/pkg/"} {
		p = strings.TrimPrefix(p, prefix)
	}
	return p + "." + t.Name()
}

// ref writes a type expression: *T, []T, map[string]T, bytes, a scalar kind, a struct name, or @Name for a
// struct with its own MarshalJSON (Quantity, IntOrString, Time...).
func ref(t reflect.Type) string {
	if t.Kind() == reflect.Struct && (t.Implements(marshaler) || reflect.PointerTo(t).Implements(marshaler)) {
		return "@" + t.Name()
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

// fields lists a struct's JSON fields in encoding order, promoting the fields of embedded structs that carry
// no JSON name (`json:",inline"`), as encoding/json does.
func fields(t reflect.Type) [][3]string {
	out := [][3]string{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		parts := strings.Split(tag, ",")
		if f.Anonymous && parts[0] == "" {
			if f.Type.Kind() != reflect.Struct || f.Type.Implements(marshaler) {
				panic("unsupported embedding in " + t.String())
			}
			out = append(out, fields(f.Type)...)
			continue
		}
		if !f.IsExported() {
			continue
		}
		jsonName := parts[0]
		if jsonName == "" {
			jsonName = f.Name
		}
		out = append(out, [3]string{jsonName, ref(f.Type), strings.Join(parts[1:], ",")})
	}
	seen := map[string]bool{}
	for _, f := range out {
		if seen[f[0]] {
			panic("field name conflict " + f[0] + " in " + t.String())
		}
		seen[f[0]] = true
	}
	return out
}

func main() {
	roots := []reflect.Type{
		reflect.TypeOf(corev1.PodTemplateSpec{}),
		reflect.TypeOf(corev1.PersistentVolumeClaim{}),
		reflect.TypeOf(appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{}),
	}
	for _, r := range roots {
		ref(r)
	}
	source := "k8s.io/api"
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "k8s.io/api" {
				source += " " + dep.Version
			}
		}
	}
	names := make([]string, 0, len(types))
	for n := range types {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "{\n  \"source\": %q,\n  \"types\": {\n", source)
	for i, n := range names {
		row := make([]string, 0, len(types[n]))
		for _, f := range types[n] {
			enc, _ := json.Marshal(f)
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
