"""Any Kubernetes cluster from a kubeconfig."""
