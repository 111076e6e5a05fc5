output "vpc_id" {
  value = aws_vpc.this.id
}

output "cidr_block" {
  value = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  value = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  value = aws_subnet.private[*].id
}

output "data_subnet_ids" {
  value = aws_subnet.data[*].id
}

output "public_cidr_summary" {
  description = "Covers every public subnet (the ALB): the bff NetworkPolicy's ingress ipBlock."
  value       = local.public_summary
}

output "data_cidr_summary" {
  description = "Covers every data subnet (RDS, MSK): the PostgreSQL/Kafka egress ipBlock."
  value       = local.data_summary
}
