import { AddBoxForm } from '../../../../components/box-form';
import { PageHeader } from '../../../../components/ui';

export default function NewBoxPage() {
  return (
    <>
      <PageHeader title="Add a box" />
      <AddBoxForm />
    </>
  );
}
