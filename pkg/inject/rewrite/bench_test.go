package rewrite

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/graceful-dev/graceful/pkg/contract"
)

// benchPod has n regular containers, alternating between "neither command
// nor args" (image config needed) and "command and args", with annotations
// for drain delay and signal map, like a typical opted-in workload.
func benchPod(n int) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "bench", Namespace: "shop", Labels: map[string]string{"app": "shop"},
			Annotations: map[string]string{contract.AnnotationDrainDelay: "5s", contract.AnnotationSignalMap: "TERM=QUIT"}},
	}
	for i := range n {
		c := corev1.Container{Name: fmt.Sprintf("c-%d", i), Image: "registry.example/app:1",
			Env:          []corev1.EnvVar{{Name: "HOME", Value: "/home"}},
			VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}
		if i%2 == 1 {
			c.Command, c.Args = []string{"/bin/sh", "-c"}, []string{"exec /app/server --port=$(PORT)"}
		}
		p.Spec.Containers = append(p.Spec.Containers, c)
	}
	p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	return p
}

func BenchmarkPod(b *testing.B) {
	cfg, images := testConfig(), testImages()
	for _, n := range []int{1, 10} {
		b.Run(fmt.Sprintf("containers=%d", n), func(b *testing.B) {
			pod := benchPod(n)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Pod(pod, cfg, Defaults{}, images); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("already-injected/containers=10", func(b *testing.B) {
		pod, _, err := Pod(benchPod(10), cfg, Defaults{}, images)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := Pod(pod, cfg, Defaults{}, images); err != nil {
				b.Fatal(err)
			}
		}
	})
}
