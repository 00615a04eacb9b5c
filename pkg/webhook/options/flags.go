package options

import (
	"flag"
	"fmt"
	"io"
	"reflect"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/graceful-dev/graceful/pkg/contract"
)

// field is one Config field as its struct tags declare it.
type field struct {
	name  string // the json tag: the YAML name
	flag  string // "" when the field is set from the file only
	def   string // default, in the flag's syntax
	env   string // variable whose value replaces def when set
	usage string
	ptr   any // the field in the Config that fields was called on
}

// fields lists c's fields.
func fields(c *Config) []field {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	out := make([]field, 0, t.NumField())
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		out = append(out, field{name: name, flag: sf.Tag.Get("flag"), def: sf.Tag.Get("default"), env: sf.Tag.Get("env"),
			usage: sf.Tag.Get("usage"), ptr: v.Field(i).Addr().Interface()})
	}
	return out
}

// flagSet binds every flag to its field of c (a flag not given leaves its
// field as it is, and -h shows the field's value as the default) and
// --config to the returned string.
func flagSet(c *Config, out io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("graceful-webhook serve", flag.ContinueOnError)
	fs.SetOutput(out)
	configPath := fs.String("config", "", "YAML config file (fields: see docs); flags given override it")
	for _, f := range fields(c) {
		if f.flag == "" {
			continue
		}
		switch p := f.ptr.(type) {
		case *string:
			fs.StringVar(p, f.flag, *p, f.usage)
		case *int:
			fs.IntVar(p, f.flag, *p, f.usage)
		case *bool:
			fs.BoolVar(p, f.flag, *p, f.usage)
		case *metav1.Duration:
			fs.DurationVar(&p.Duration, f.flag, p.Duration, f.usage)
		case *[]string:
			fs.Var((*listValue)(p), f.flag, f.usage)
		default:
			// A programming error that every test calling Parse shows.
			panic(fmt.Sprintf("options: no flag for field %s of type %T", f.name, f.ptr))
		}
	}
	return fs, configPath
}

// setDefaults sets each field to its `env` variable's value when that is
// set, else to its `default`, both read as its flag reads them (a tag
// without a flag, or one that does not parse, panics in every test).
func setDefaults(c *Config, env func(string) string) {
	fs, _ := flagSet(c, io.Discard)
	for _, f := range fields(c) {
		v := f.def
		if f.env != "" && env(f.env) != "" {
			v = env(f.env)
		}
		if v == "" {
			continue
		}
		if err := fs.Set(f.flag, v); err != nil {
			panic(fmt.Sprintf("options: default of field %s: %v", f.name, err))
		}
	}
}

// listValue is a comma-separated list flag (contract.SplitList).
type listValue []string

func (l *listValue) String() string     { return strings.Join(*l, ",") }
func (l *listValue) Set(v string) error { *l = contract.SplitList(v); return nil }
